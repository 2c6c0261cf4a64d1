"use strict";
// Supervisor wallboard: polls /api/muro every second.
(function () {
  const $ = (id) => document.getElementById(id);
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function mmss(s) {
    s = Math.round(s);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function render(data) {
    $("threshold").textContent = data.threshold_s;
    $("updated").textContent = "actualizado " + new Date().toLocaleTimeString("es-BO");
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
      tr.append(
        cell(q.name && q.name !== q.queue ? q.queue + " · " + q.name : q.queue),
        cell(q.waiting, q.waiting > 0 ? "alert" : ""),
        cell(mmss(q.longest_wait_s), q.longest_wait_s > data.threshold_s ? "alert" : ""),
        cell(q.available), cell(q.on_call), cell(q.paused),
      );
      body.append(tr);
    });
  }
  function tick() {
    fetch("/api/muro", { credentials: "same-origin" })
      .then((r) => { if (!r.ok) throw new Error(r.statusText); return r.json(); })
      .then(render).catch(() => { $("updated").textContent = "sin conexión"; })
      .finally(() => setTimeout(tick, 1000));
  }
  tick();
})();
