// /demo/claim#code=K7QM4XTR, where handoff links and QR codes land: claim the code, then show the shop.
//
// The code rides in the fragment, which browsers never send to a server (no access log holds it); it is removed
// from the address bar before anything else, so a reload or a shared link cannot replay it.

import { $, act, reportUnhandledErrors, showProblem } from "./dom.js";
import { codeInFragment, openShopper } from "./session.js";

async function claim(client, code) {
  await client.handoff.claim(code);
  location.replace("/demo");
}

async function main() {
  reportUnhandledErrors();
  const code = codeInFragment();
  history.replaceState(null, "", location.pathname);
  const client = await openShopper();
  const form = $("#claim");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(event.submitter, () => claim(client, new FormData(form).get("code")));
  });
  if (code) {
    $("#claim-code").value = code;
    try {
      await claim(client, code);
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
