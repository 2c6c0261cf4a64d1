"use strict";
// Supervisor wallboard: polls /api/muro every second.
(function () {
  const $ = (id) => document.getElementById(id);
  const QUEUE_HEADS = ["Cola", "En espera", "Espera máx.", "Disponibles", "En llamada", "En pausa"];
  const AGENT_HEADS = ["Agente", "Estado", "Tiempo", "Llamada", "Servicio", "Motivo de pausa"];
  function cell(text, cls, head) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (head) td.dataset.label = head;  // shown before the value on narrow screens
    return td;
  }
  function mmss(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + r : m + ":" + r;
  }
  function renderAgents(data) {
    Object.entries(data.totals || {}).forEach(([k, v]) => {
      const el = $("n-" + k);
      if (el) el.textContent = v;
    });
    const body = document.querySelector("#agents tbody"); body.replaceChildren();
    const agents = data.agents || [];
    $("no-agents").hidden = agents.length > 0;
    agents.forEach((a) => {
      const tr = document.createElement("tr");
      tr.className = "agent " + a.state;
      tr.dataset.interface = a.interface;
      tr.dataset.state = a.state;
      const call = a.call;
      const who = call ? (call.caller_name ? call.caller_name + " · " : "") + (call.caller_num || "") : "—";
      const service = call ? call.service + (call.service_name && call.service_name !== call.service ? " · " + call.service_name : "") : "—";
      const state = cell(a.state_label, "state", AGENT_HEADS[1]);
      if (a.status_label) state.title = "Asterisk: " + a.status_label + " (" + a.status + ")";
      let reason = a.pause_reason || (a.paused ? "sin motivo" : "");
      if (!a.paused && a.paused_in && a.paused_in.length) reason = "en pausa en " + a.paused_in.join(", ") + (a.pause_reason ? " (" + a.pause_reason + ")" : "");
      tr.append(
        cell(a.name, "name", AGENT_HEADS[0]),
        state,
        cell(mmss(a.in_state_s), "time", AGENT_HEADS[2]),
        cell(who, "call", AGENT_HEADS[3]),
        cell(service, "service", AGENT_HEADS[4]),
        cell(reason || "—", "reason", AGENT_HEADS[5]),
      );
      body.append(tr);
    });
  }
  function render(data) {
    $("threshold").textContent = data.threshold_s;
    $("updated").textContent = "actualizado " + new Date().toLocaleTimeString("es-BO");
    renderAgents(data);
    const cards = $("sl"); cards.replaceChildren();
    data.service_level.forEach((s) => {
      const card = document.createElement("div");
      card.className = "card" + (s.meets_target === null ? "" : s.meets_target ? " ok" : " bad");
      const name = document.createElement("div"); name.textContent = s.name + " (" + s.service + ")";
      const pct = document.createElement("div"); pct.className = "pct";
      pct.textContent = s.pct === null ? "—" : s.pct.toLocaleString("es-BO") + " %";
      const n = document.createElement("div"); n.className = "muted";
      n.textContent = s.within + " de " + s.calls + " llamadas";
      card.append(name, pct, n);
      cards.append(card);
    });
    const body = document.querySelector("#queues tbody"); body.replaceChildren();
    data.queues.forEach((q) => {
      const tr = document.createElement("tr");
      tr.dataset.queue = q.queue;
      tr.append(
        cell(q.name && q.name !== q.queue ? q.queue + " · " + q.name : q.queue, "", QUEUE_HEADS[0]),
        cell(q.waiting, q.waiting > 0 ? "alert" : "", QUEUE_HEADS[1]),
        cell(mmss(q.longest_wait_s), q.longest_wait_s > data.threshold_s ? "alert" : "", QUEUE_HEADS[2]),
        cell(q.available, "", QUEUE_HEADS[3]), cell(q.on_call, "", QUEUE_HEADS[4]), cell(q.paused, "", QUEUE_HEADS[5]),
      );
      body.append(tr);
    });
  }
  function tick() {
    fetch("/api/muro", { credentials: "same-origin" })
      .then((r) => {
        if (r.status === 401) { window.location.assign("/ingresar"); throw new Error("sesión"); }
        if (!r.ok) throw new Error(r.statusText);
        return r.json();
      })
      .then(render).catch(() => { $("updated").textContent = "sin conexión"; })
      .finally(() => setTimeout(tick, 1000));
  }
  tick();
})();
