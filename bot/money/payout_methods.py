"""Checking what a worker types as a payout address: e-mail syntax, IBAN checksum, wallet formats."""

import hashlib
import re
from dataclasses import dataclass

from bot.errors import ErrorCode, InvalidInput

KINDS = ("paypal", "iban", "crypto", "giftcard")  # the text layer names each and asks for its address


class AddressRefusal(ErrorCode):
    UNKNOWN_KIND = "method_unknown_kind"  # {kind}
    NOT_AN_EMAIL = "method_not_an_email"  # {text}: what was typed, cut
    NOT_AN_IBAN = "method_not_an_iban"
    IBAN_LENGTH = "method_iban_length"  # {country, expected, given}
    IBAN_CHECKSUM = "method_iban_checksum"
    BECH32_CHECKSUM = "method_bech32_checksum"
    BASE58_CHECKSUM = "method_base58_checksum"
    NOT_A_WALLET = "method_not_a_wallet"


_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# Lengths of the IBAN countries most workers will use (ISO 13616 registry); others need 15–34 characters.
_IBAN_LENGTHS = {
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "TR": 26,
    "UA": 29,
}
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass(frozen=True)
class Method:
    kind: str  # one of KINDS
    address: str


def normalise(kind: str, typed: str) -> str:
    """The address in its canonical form, or InvalidInput saying what is wrong with it."""
    text = typed.strip()
    if kind in ("paypal", "giftcard"):
        return _email(text)
    if kind == "iban":
        return _iban(text)
    if kind == "crypto":
        return _wallet(text)
    raise InvalidInput(AddressRefusal.UNKNOWN_KIND, kind=kind)


def _email(text: str) -> str:
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise InvalidInput(AddressRefusal.NOT_AN_EMAIL, text=text[:80])
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _iban(text: str) -> str:
    iban = re.sub(r"[\s-]", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        raise InvalidInput(AddressRefusal.NOT_AN_IBAN)
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected and len(iban) != expected:
        raise InvalidInput(AddressRefusal.IBAN_LENGTH, country=iban[:2], expected=expected, given=len(iban))
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise InvalidInput(AddressRefusal.IBAN_CHECKSUM)
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _wallet(text: str) -> str:
    if re.fullmatch(r"0x[0-9a-fA-F]{40}", text):
        return text
    if text.lower().startswith("bc1"):
        if _bech32_valid(text):
            return text.lower()
        raise InvalidInput(AddressRefusal.BECH32_CHECKSUM)
    if text[:1] in ("1", "3") and 25 <= len(text) <= 35:
        if _base58check_valid(text):
            return text
        raise InvalidInput(AddressRefusal.BASE58_CHECKSUM)
    raise InvalidInput(AddressRefusal.NOT_A_WALLET)


def _base58check_valid(text: str) -> bool:
    if any(ch not in _BASE58 for ch in text):
        return False
    number = 0
    for ch in text:
        number = number * 58 + _BASE58.index(ch)
    leading_zeros = len(text) - len(text.lstrip("1"))
    raw = b"\0" * leading_zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(raw) != 25:
        return False
    payload, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


def _bech32_valid(text: str) -> bool:
    """A SegWit address (BIP 173 / BIP 350): checksum, witness version and program length."""
    if text != text.lower() and text != text.upper():
        return False
    text = text.lower()
    if not 14 <= len(text) <= 90 or text.rfind("1") != 2:
        return False
    data = [_BECH32.find(ch) for ch in text[3:]]
    if -1 in data or len(data) < 7:
        return False
    checksum = _polymod([ord(ch) >> 5 for ch in "bc"] + [0] + [ord(ch) & 31 for ch in "bc"] + data)
    version, program = data[0], _regroup(data[1:-6])
    if program is None or version > 16 or not 2 <= len(program) <= 40:
        return False
    if version == 0:
        return checksum == 1 and len(program) in (20, 32)  # bech32 for v0
    return checksum == 0x2BC830A3  # bech32m for v1 and later


def _regroup(groups: list[int]) -> bytes | None:
    """5-bit groups back to bytes; None when the padding is not zero bits as the standard requires."""
    accumulator, bits, out = 0, 0, bytearray()
    for value in groups:
        accumulator = (accumulator << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _polymod(values: list[int]) -> int:
    generators = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(generators):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum
