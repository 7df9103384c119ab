"""A TCP proxy between the bot's instances and PostgreSQL, which a test cuts: every connection through it
closed at once and new ones refused until it is brought back. The database server itself is shared and
stays up; to the instances it is as if it restarted."""

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class TcpProxy:
    target_host: str
    target_port: int
    port: int = 0  # where it listens, once started
    _server: asyncio.Server | None = field(default=None, repr=False)
    _links: set[asyncio.StreamWriter] = field(default_factory=set, repr=False)
    _upstream_ports: set[int] = field(default_factory=set, repr=False)

    async def start(self) -> None:
        """Listen (again) on 127.0.0.1, on the port of the first start."""
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Close every connection through the proxy and refuse new ones (nothing listens) until `start`."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._links):
            writer.transport.abort()  # a reset, as a server gone away leaves it
        await self._server.wait_closed()
        self._server = None

    @property
    def upstream_ports(self) -> set[int]:
        """The proxy's own ports of its open connections to the database: pg_stat_activity's client_port."""
        return set(self._upstream_ports)

    async def stop(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        upstream_port = server_writer.get_extra_info("sockname")[1]
        self._links |= {client_writer, server_writer}
        self._upstream_ports.add(upstream_port)
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            self._links -= {client_writer, server_writer}
            self._upstream_ports.discard(upstream_port)
            for writer in (client_writer, server_writer):
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends; then the other side is ended too."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
