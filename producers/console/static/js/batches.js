// Batches: the tenant's runs with live progress, and one run's matrix (refreshed while it runs).
import { api } from "./api.js";
import { el, renderBatch as drawBatch } from "./matrix.js";

const REFRESH_MS = 2000;

function live(load) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    const again = await load().catch(() => true);
    if (again && !stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function progress(b) {
  const bar = el("progress", { max: b.total || 1, value: b.done, "aria-label": `Batch ${b.id} progress` });
  return el("td", {}, bar, ` ${b.done} / ${b.total}`);
}

export function renderBatches(main) {
  const body = el("div", { "aria-live": "polite" });
  main.replaceChildren(el("h1", {}, "Batches"), body);
  return live(async () => {
    const { data } = await api("/v1/batches");
    if (!data.length) {
      body.replaceChildren(el("p", {}, "No batch runs for this tenant yet: ", el("code", {}, "multillm batch run --sample --tenant NAME")));
      return true;
    }
    body.replaceChildren(el("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": "Batch runs" },
      el("table", { class: "batches" },
        el("thead", {}, el("tr", {}, ["Batch", "State", "Progress", "Failed", "Providers/models", "Started"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, data.map((b) => el("tr", {},
          el("th", { scope: "row" }, el("a", { href: `#/batches/${encodeURIComponent(b.id)}` }, b.id)),
          el("td", {}, el("span", { class: `badge s-${b.state}` }, b.state)), progress(b), el("td", {}, b.failed),
          el("td", {}, b.targets.join(", ")),
          el("td", {}, b.started ? new Date(b.started * 1000).toLocaleString() : "–")))))));
    return true;
  });
}

export function renderBatch(main, id) {
  const view = { failed: false, disagreeing: false, target: "" };
  main.replaceChildren(el("p", {}, el("a", { href: "#/batches" }, "← All batches")), el("p", {}, "Loading…"));
  const holder = el("div");
  return live(async () => {
    try {
      const batch = await api(`/v1/batches/${encodeURIComponent(id)}`);
      drawBatch(holder, batch, view);
      if (!holder.isConnected) main.replaceChildren(el("p", {}, el("a", { href: "#/batches" }, "← All batches")), holder);
      return batch.state === "running" || batch.state === "cancelling";
    } catch (e) {
      main.replaceChildren(el("h1", {}, `Batch ${id}`), el("p", { class: "error", role: "alert" }, e.message));
      return false;
    }
  });
}
