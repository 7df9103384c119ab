// Keeps the chat current without a reload: the bot also writes on its own (a payout request, a finished
// batch), so the page asks the server for the chat every second and swaps it in when it changed.
"use strict";

const log = document.getElementById("log");
const keyboard = document.getElementById("keyboard");
const box = document.querySelector("form.send input[name=text]");
const state = `/chat/${document.body.dataset.user}/state`;
let version = log.dataset.version;

function toBottom() {
  log.scrollTop = log.scrollHeight;
}

async function refresh() {
  try {
    const response = await fetch(state);
    if (response.ok) {
      const chat = await response.json();
      if (chat.version !== version) {
        version = chat.version;
        log.innerHTML = chat.log;
        keyboard.innerHTML = chat.keyboard;
        toBottom();
      }
    }
  } catch (error) {
    // The sandbox was stopped or restarted: keep what is shown and ask again.
  }
  setTimeout(refresh, 1000);
}

// A command from the menu goes into the box, for the arguments some of them take.
for (const button of document.querySelectorAll("button.command")) {
  button.addEventListener("click", () => {
    box.value = button.dataset.command + " ";
    box.focus();
  });
}

// One press is one callback: a second click while the first is on its way is not sent.
document.addEventListener("submit", (event) => {
  for (const button of event.target.querySelectorAll("button")) button.disabled = true;
});

toBottom();
setTimeout(refresh, 1000);
