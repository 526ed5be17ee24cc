// The console: sign in with a tenant key, then Compare, Batches and Providers, routed by the URL's
// hash. Vanilla JS modules and one CSS file, no framework and no build step: the gateway serves these
// files as they are in the package, and the batch matrix is inlined as is into matrix.html.
import { api, session } from "./api.js";
import { renderCompare } from "./compare.js";
import { renderBatches, renderBatch } from "./batches.js";
import { renderProviders } from "./providers.js";
import { el } from "./matrix.js";

const main = document.getElementById("main");
let leave = () => {};  // stops the current page's refresh loop or streams

function signIn() {
  const error = el("p", { class: "error", role: "alert" });
  const input = el("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", placeholder: "mlm_…" });
  const submit = async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api("/v1/models", { key: input.value.trim() });
      session.set(input.value.trim());
      location.hash = "#/compare";
      route();
    } catch (e) {
      error.textContent = e.status === 401 ? "That key is unknown or revoked." : `Sign-in failed: ${e.message}`;
      input.focus();
    }
  };
  main.replaceChildren(el("section", { class: "signin" },
    el("h1", {}, "Sign in"),
    el("p", {}, "Use your tenant API key (", el("code", {}, "multillm tenants create NAME"),
      "). It is kept in this tab only, until you sign out or close the tab."),
    el("form", { onsubmit: submit },
      el("label", { for: "key" }, "Tenant API key"), input,
      el("button", { type: "submit" }, "Sign in")),
    error));
  input.focus();
}

function showNav(signedIn) {
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  const page = location.hash.split("/")[1] || "compare";
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  leave();
  leave = () => {};
  const signedIn = Boolean(session.get());
  showNav(signedIn);
  if (!signedIn) return signIn();
  const [, page, id] = location.hash.split("/");
  const pages = {
    compare: () => renderCompare(main),
    batches: () => (id ? renderBatch(main, decodeURIComponent(id)) : renderBatches(main)),
    providers: () => renderProviders(main),
  };
  leave = (pages[page] || pages.compare)() || (() => {});
  document.title = `${(page || "compare").replace(/^./, (c) => c.toUpperCase())} · multillm console`;
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", () => { route(); main.focus(); });
route();
