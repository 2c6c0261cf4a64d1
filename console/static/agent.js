"use strict";
// Agent console: live pops (SSE), guided script walk (server-side), interaction recording.
(function () {
  const $ = (id) => document.getElementById(id);
  const IVR = {
    ok: "Cliente identificado", not_found: "Cliente no encontrado",
    invalid_input: "Dato no válido", directory_down: "Directorio no disponible",
    error: "Error del IVR", "": "Sin IVR",
  };
  const SEGMENTO = { vip: "VIP", corporativo: "Corporativo", empresa: "Empresa", residencial: "Residencial" };
  let pop = null;
  let trail = [];

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Centralita": "1" },
      body: JSON.stringify(body),
    }).then(async (r) => {
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(data.error || r.statusText);
      return data;
    });
  }
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function showPop(p) {
    pop = p; trail = [];
    $("idle").hidden = true; $("call").hidden = false;
    $("saved").hidden = true; $("error").textContent = ""; $("note").value = "";
    $("service").textContent = p.service_name + " (" + p.service + ")";
    $("caller").textContent = p.caller_num || "número oculto";
    $("wait").textContent = p.wait_s === null ? "—" : Math.round(p.wait_s) + " s";
    $("queue").textContent = p.queue;
    const ivr = p.ivr ? (IVR[p.ivr.result] || p.ivr.result) : IVR[""];
    $("ivr").textContent = ivr;
    const c = $("customer"); c.replaceChildren();
    if (p.customer) {
      c.append(el("div", p.customer.name, "big"));
      c.append(el("div", "Contrato " + p.customer.contract + " · " + (SEGMENTO[p.customer.segment] || p.customer.segment)));
      if (p.customer.ci) c.append(el("div", "CI " + p.customer.ci));
      if (p.customer.services.length) c.append(el("div", "Servicios: " + p.customer.services.join(", ")));
      if (p.customer.address) c.append(el("div", p.customer.address, "muted"));
      if (p.customer.notes) c.append(el("div", p.customer.notes, "muted"));
    }
    walk();
  }
  function walk() {
    if (!pop.script_id) { $("script-title").textContent = "Sin guion para este servicio"; return; }
    post("/api/paso", { script_id: pop.script_id, trail: trail }).then(render).catch(fail);
  }
  function render(view) {
    $("script-title").textContent = view.script.title;
    const step = $("step"); step.replaceChildren();
    const opts = $("options"); opts.replaceChildren();
    if (view.finished) {
      $("outcome").hidden = false;
      $("outcome-label").textContent = "Resultado: " + view.outcome.label;
      return;
    }
    $("outcome").hidden = true;
    const s = view.step;
    step.className = "step";
    step.append(el("div", "Paso " + s.label, "muted"));
    step.append(el("div", s.text, "step-text"));
    const list = el("ul");
    s.substeps.forEach((x) => list.append(el("li", x.ref + " " + x.text)));
    s.questions.forEach((q) => list.append(el("li", "«" + q + "»")));
    s.systems.forEach((x) => list.append(el("li", "Sistema " + x.name + (x.detail ? ": " + x.detail : ""), "muted")));
    s.handoffs.forEach((x) => list.append(el("li", "Derivar: " + x.text, "muted")));
    if (list.childElementCount) step.append(list);
    if (s.note) step.append(el("p", s.note, "muted"));
    view.options.forEach((o) => {
      const b = el("button", o.label);
      b.addEventListener("click", () => { trail.push([s.number, o.index]); walk(); });
      opts.append(b);
    });
  }
  function fail(err) { $("error").textContent = err.message; }
  $("back").addEventListener("click", () => { trail.pop(); walk(); });
  $("save").addEventListener("click", () => {
    post("/api/interacciones", {
      call_id: pop.call_id, script_id: pop.script_id, script_version: pop.script_version,
      trail: trail, note: $("note").value,
    }).then((saved) => {
      $("outcome").hidden = true; $("options").replaceChildren(); $("step").replaceChildren();
      $("saved").hidden = false;
      $("saved").textContent = "Interacción registrada: " + saved.outcome_label;
    }).catch(fail);
  });
  function connect() {
    const agent = document.body.dataset.agent;
    const url = "/api/pops/stream" + (agent ? "" : "?agent=");
    const source = new EventSource(url);
    source.onopen = () => $("link").classList.add("on");
    source.onerror = () => $("link").classList.remove("on");
    source.addEventListener("screenpop", (e) => showPop(JSON.parse(e.data)));
  }
  fetch("/api/pops", { credentials: "same-origin" }).then((r) => r.ok ? r.json() : [])
    .then((items) => { if (items.length) showPop(items[items.length - 1]); }).finally(connect);
})();
