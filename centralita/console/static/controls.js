"use strict";
// Call controls of the agent console (console/controls.py): pause with a reason, resume,
// transfer the current call to another service's queue or to an internal extension of
// the employee directory. Self-contained: it follows the agent's calls on its own event
// stream and builds its UI inside <section id="controles">. Text only (textContent).
(function () {
  const box = document.getElementById("controles");
  if (!box) return;
  const agent = document.body.dataset.agent || "";
  let call = null; // the agent's latest pop: the call a transfer applies to
  let config = { enabled: false, pause_reasons: [], services: [], pause: {} };
  let lastResults = []; // the employee search's last answer

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
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
  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(async (r) => {
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(data.error || r.statusText);
      return data;
    });
  }

  // ---------------------------------------------------------------- the section's UI
  const title = el("h3", "Controles de llamada");
  const state = el("p", "", "muted"); state.id = "ctl-state";
  const status = el("p", "", "ok"); status.id = "ctl-status"; status.setAttribute("role", "status");
  const error = el("p", "", "error"); error.id = "ctl-error"; error.setAttribute("role", "alert");

  const reason = el("select"); reason.id = "ctl-reason"; reason.setAttribute("aria-label", "Motivo de pausa");
  const pauseBtn = el("button", "Pausar"); pauseBtn.id = "ctl-pause";
  const resumeBtn = el("button", "Reanudar", "quiet"); resumeBtn.id = "ctl-resume";
  const pauseRow = el("div"); pauseRow.append(el("label", "Pausa"), reason, pauseBtn, resumeBtn);

  const callLine = el("p", "Sin llamada en curso", "muted"); callLine.id = "ctl-call";
  const service = el("select"); service.id = "ctl-service"; service.setAttribute("aria-label", "Servicio de destino");
  const transferBtn = el("button", "Transferir a la cola"); transferBtn.id = "ctl-transfer";
  const transferRow = el("div"); transferRow.append(el("label", "Transferir a otro servicio"), service, transferBtn);

  const search = el("input"); search.id = "ctl-search"; search.type = "search";
  search.placeholder = "Nombre, área, cargo o interno"; search.setAttribute("aria-label", "Buscar empleado");
  const results = el("ul"); results.id = "ctl-employees";
  const searchRow = el("div"); searchRow.append(el("label", "Transferir a un interno (directorio de empleados)"), search, results);

  box.classList.add("pop");
  box.replaceChildren(title, state, pauseRow, callLine, transferRow, searchRow, status, error);

  function say(text) { status.textContent = text; error.textContent = ""; }
  function fail(err) { error.textContent = err.message; status.textContent = ""; }

  function showState() {
    const p = config.pause || {};
    state.textContent = !config.enabled
      ? "Controles de llamada desactivados en este centro."
      : p.paused ? "En pausa" + (p.reason ? ": " + p.reason : "") : "Disponible (sin pausa)";
    for (const node of [reason, pauseBtn, resumeBtn, service, transferBtn]) node.disabled = !config.enabled;
    transferBtn.disabled = !config.enabled || !call;
  }
  function showCall() {
    callLine.textContent = call
      ? "Llamada actual: " + (call.caller_num || "número oculto") + " · " + call.service_name + " (" + call.queue + ")"
      : "Sin llamada en curso";
    service.replaceChildren();
    for (const s of config.services) {
      if (call && s.queue === call.queue) continue;
      const o = el("option", s.name + " (" + s.key + ")"); o.value = s.key;
      service.append(o);
    }
    showState();
    renderResults(lastResults);
  }
  function load() {
    return get("/api/controles").then((c) => {
      config = c;
      reason.replaceChildren(...c.pause_reasons.map((r) => { const o = el("option", r); o.value = r; return o; }));
      showCall();
    }).catch(fail);
  }

  pauseBtn.addEventListener("click", () => {
    post("/api/controles/pausa", { reason: reason.value }).then((r) => {
      config.pause = { paused: true, reason: r.reason }; showState(); say("En pausa: " + r.reason);
    }).catch(fail);
  });
  resumeBtn.addEventListener("click", () => {
    post("/api/controles/reanudar", {}).then(() => {
      config.pause = { paused: false, reason: "" }; showState(); say("Pausa terminada: disponible");
    }).catch(fail);
  });
  transferBtn.addEventListener("click", () => {
    if (!call) return;
    const target = service.value;
    transferBtn.disabled = true;
    post("/api/controles/transferir", { call_id: call.call_id, service: target }).then((r) => {
      call = null; showCall(); // the call is no longer this agent's
      say("Llamada transferida a la cola " + r.queue + " (servicio " + r.service + ")");
    }).catch((err) => { fail(err); showState(); });
  });

  function renderResults(items) {
    lastResults = items;
    results.replaceChildren(...items.map((e) => {
      const li = el("li");
      li.append(el("span", e.name + " — " + e.position + ", " + e.area + " "));
      if (e.extension) {
        const b = el("button", "Transferir al interno " + e.extension, "quiet");
        b.dataset.interno = e.extension;
        b.disabled = !config.enabled || !call;
        b.addEventListener("click", () => {
          b.disabled = true;
          post("/api/controles/interno", { call_id: call.call_id, interno: e.extension }).then((r) => {
            call = null; showCall();
            say("Llamada transferida al interno " + r.interno + " (" + r.name + ")");
          }).catch((err) => { fail(err); b.disabled = !config.enabled || !call; });
        });
        li.append(b);
      } else {
        li.append(el("span", "(sin interno)", "muted"));
      }
      return li;
    }));
  }
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    const text = search.value.trim();
    if (!text) { renderResults([]); return; }
    timer = setTimeout(() => {
      get("/api/controles/empleados?q=" + encodeURIComponent(text)).then(renderResults).catch(fail);
    }, 200);
  });

  // ---------------------------------------------------------------- the agent's calls
  function follow() {
    if (!agent) return; // a supervisor's page follows no single agent's calls
    // the page's one event stream is agent.js's: it passes each pop on as a DOM event
    document.addEventListener("centralita:screenpop", (e) => { call = e.detail; showCall(); load(); });
  }
  load().then(() => get("/api/pops")).then((items) => {
    if (items && items.length) { call = items[items.length - 1]; showCall(); }
  }).catch(fail).finally(follow);
})();
