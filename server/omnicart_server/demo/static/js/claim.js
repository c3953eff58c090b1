// /demo/claim#code=K7QM4XTR, where handoff links and QR codes land: claim the code, then show the shop.
//
// The code rides in the fragment, which browsers never send to a server (no access log holds it); it is removed
// from the address bar before anything else, so a reload or a shared link cannot replay it.

import { Client } from "/demo/sdk/index.js";
import { $, act, reportUnhandledErrors, showProblem } from "./dom.js";
import { codeInFragment, shopperOptions } from "./session.js";

/** Become the offering customer's device (no session of this browser's own is opened first), then shop. */
async function claim(code) {
  await Client.claim(location.origin, code, shopperOptions());
  location.replace("/demo");
}

async function main() {
  reportUnhandledErrors();
  const code = codeInFragment();
  history.replaceState(null, "", location.pathname);
  const form = $("#claim");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(event.submitter, () => claim(new FormData(form).get("code")));
  });
  if (code) {
    $("#claim-code").value = code;
    try {
      await claim(code);
      return;
    } catch (error) {
      showProblem(error);
    }
  }
  $("#claim-title").textContent = "Continue your cart here";
  $("#claim-status").textContent = code
    ? "That code did not work. Ask your other device for a new one and type it below."
    : "This link holds no code. Type the one your other device shows.";
  form.hidden = false;
  document.body.dataset.ready = "true";
}

main().catch(showProblem);
