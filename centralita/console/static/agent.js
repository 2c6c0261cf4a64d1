"use strict";
// Agent console: live pops (SSE), one work item per answered call kept server-side
// (/api/trabajos: the walk and the note are saved as the agent goes), the guided script
// walk (server-side), the caller's history, idempotent recording, the call's end and the
// after-call time. A call that arrives mid-walk waits as "Siguiente", never replacing the
// form in use. Text only (textContent), never HTML from data.
(function () {
  const $ = (id) => document.getElementById(id);
  const IVR = {
    ok: "Cliente identificado", not_found: "Cliente no encontrado",
    invalid_input: "Dato no válido", directory_down: "Directorio no disponible",
    error: "Error del IVR", "": "Sin IVR",
  };
  const SEGMENTO = { vip: "VIP", corporativo: "Corporativo", empresa: "Empresa", residencial: "Residencial", prepago: "Prepago" };
  const GENERIC = { colgo: "Colgó", numero_equivocado: "Número equivocado", llamada_cortada: "Llamada cortada" };
  const SAVE_DELAY_MS = 400;
  const TITLE = document.title;

  const items = new Map(); // call_id -> work item {pop, trail, note, generic, ended, wrapup_s, view}
  let cur = null; // call_id in the form
  let sending = false;
  let clockOffset = 0; // server clock - page clock (ms)
  let acwUntil = null; // end of the after-call time (server ms)
  let unseen = 0;

  // ------------------------------------------------------------------ helpers
  function request(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Centralita": "1" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => {
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(data.error || r.statusText);
      return data;
    });
  }
  const post = (url, body) => request("POST", url, body);
  const get = (url) => request("GET", url);
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0") + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }
  function when(ms) {
    return new Date(ms).toLocaleString("es-BO", { dateStyle: "short", timeStyle: "short", timeZone: "America/La_Paz" });
  }
  const now = () => Date.now() + clockOffset;
  const item = () => (cur ? items.get(cur) : null);
  function fail(err) { $("error").textContent = err.message; }

  // ------------------------------------------------------------------ work items
  function add(pop, saved) {
    const known = items.get(pop.call_id);
    if (known) { // the same call again (the campaign's pop completes the first one)
      const scriptChanged = known.pop.script_id !== pop.script_id;
      known.pop = pop;
      if (scriptChanged) known.trail = [];
      if (cur === pop.call_id) showHeader();
      if (cur === pop.call_id && scriptChanged) walk();
      return;
    }
    const w = {
      pop: pop,
      trail: saved ? saved.trail : [],
      note: saved ? saved.note : "",
      generic: saved ? saved.generic : "",
      ended: saved ? saved.call_ended_at_ms : null,
      wrapup_s: saved ? saved.wrapup_s : 0,
      timer: null,
    };
    items.set(pop.call_id, w);
    if (!saved) { attention(pop); setTimeout(refresh, 500); } // its after-call time
    if (cur === null) select(pop.call_id);
    else showPending();
  }
  function saveSoon(id) {
    const w = items.get(id);
    if (!w) return;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => saveNow(id), SAVE_DELAY_MS);
  }
  function saveNow(id) {
    const w = items.get(id);
    if (!w) return Promise.resolve();
    clearTimeout(w.timer); w.timer = null;
    return request("PUT", "/api/trabajos/" + encodeURIComponent(id),
      { trail: w.trail, note: w.note, generic: w.generic }).catch(() => {});
  }
  function select(id) {
    cur = id;
    const w = item();
    $("idle").hidden = true; $("call").hidden = false;
    $("saved").hidden = true; $("error").textContent = "";
    $("note").value = w.note;
    // Nothing of the previous call stays on screen while this one's script loads.
    $("script-title").textContent = "Cargando guion…";
    $("step").replaceChildren(); $("options").replaceChildren(); $("outcome").hidden = true;
    showHeader(); showPending(); history(); walk();
  }
  function showPending() {
    const list = $("pending-list"); list.replaceChildren();
    items.forEach((w, id) => {
      if (id === cur) return;
      const li = el("li");
      const p = w.pop;
      li.append(el("span", (p.caller_num || "número oculto") + " · " + p.service_name + " · " + (w.ended ? "terminada" : "en llamada")));
      const b = el("button", "Atender", "quiet");
      b.addEventListener("click", () => { if (cur) saveNow(cur); select(id); });
      li.append(b);
      list.append(li);
    });
    $("pending").hidden = !list.childElementCount;
  }

  // ------------------------------------------------------------------ the call
  function showHeader() {
    const p = item().pop;
    $("service").textContent = p.service_name + " (" + p.service + ")";
    $("caller").textContent = p.caller_num || "número oculto";
    $("caller-name").textContent = p.caller_name && p.caller_name !== p.caller_num ? p.caller_name : "";
    $("wait").textContent = p.wait_s === null || p.wait_s === undefined ? "—" : Math.round(p.wait_s) + " s";
    $("queue").textContent = p.queue;
    $("ivr").textContent = p.ivr ? (IVR[p.ivr.result] || p.ivr.result) : IVR[""];
    const c = $("customer"); c.replaceChildren();
    if (p.customer) {
      const k = p.customer;
      c.append(el("div", k.name, "big"));
      const dl = el("dl");
      const row = (label, value) => { if (value) { dl.append(el("dt", label), el("dd", value)); } };
      row("Contrato", k.contract);
      row("Segmento", SEGMENTO[k.segment] || k.segment);
      row("CI", k.ci);
      row("Teléfono", k.phone);
      row("Servicios", (k.services || []).join(", "));
      row("Dirección", k.address);
      row("Notas", k.notes);
      c.append(dl);
    }
    showCampaign(p);
    tick();
    // the call in the form, for the guides' search of 104 and 4200224 (guide.js)
    document.dispatchEvent(new CustomEvent("centralita:call", { detail: p }));
  }
  // Procedure K: the campaign call's result, linked to its attempt (recorded once).
  const CAMPAIGN = [
    ["informado", "Informado de la fecha de vencimiento"],
    ["promesa_pago", "Informado, promete pagar"],
    ["numero_equivocado", "Número equivocado"],
    ["rechaza", "Rechaza la llamada"],
  ];
  function showCampaign(p) {
    const fields = (p.ivr && p.ivr.fields) || {};
    const box = $("campaign");
    box.hidden = !fields.CC_CAMPAIGN_ATTEMPT;
    if (box.hidden) return;
    const opts = $("campaign-options"); opts.replaceChildren();
    $("campaign-state").textContent = "";
    CAMPAIGN.forEach(([code, label]) => {
      const b = el("button", label, "quiet");
      b.addEventListener("click", () => {
        opts.querySelectorAll("button").forEach((x) => { x.disabled = true; });
        post("/api/campana/resultado", { call_id: p.call_id, code: code }).then((saved) => {
          $("campaign-state").textContent = "Resultado registrado: " + saved.label;
        }).catch((err) => {
          opts.querySelectorAll("button").forEach((x) => { x.disabled = false; });
          fail(err);
        });
      });
      opts.append(b);
    });
  }
  function showMail() {
    return get("/api/correos").then((list) => {
      const ul = $("mail"); ul.replaceChildren();
      list.slice(0, 5).forEach((m) => {
        ul.append(el("li", m.state_label + " · " + m.subject + (m.sent_at ? " · " + m.sent_at : "")));
      });
      if (!list.length) ul.append(el("li", "Ninguno", "muted"));
    }).catch(() => {});
  }
  function tick() {
    const w = item();
    if (w) {
      const p = w.pop;
      const answered = Date.parse(p.answered_at || "");
      let state, cls, timer = "";
      if (w.ended) {
        state = "Terminada"; cls = "ended";
        if (!isNaN(answered)) timer = "duró " + clock(w.ended - answered);
      } else if (isNaN(answered)) {
        state = "Sonando"; cls = "ringing";
      } else {
        state = "En llamada"; cls = "live"; timer = clock(now() - answered);
      }
      put("call-state", state, "state " + cls);
      put("timer", timer);
    }
    const left = acwUntil === null ? 0 : acwUntil - now();
    if ($("acw").hidden !== (left <= 0)) $("acw").hidden = left <= 0;
    put("acw", left > 0 ? "Tiempo de cierre: " + clock(left) : "");
  }
  // tick() runs every second: rewriting an unchanged text or class still costs the page a
  // style and layout pass (an ended call's card: every second, for nothing).
  function put(id, text, cls) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
    if (cls !== undefined && node.className !== cls) node.className = cls;
  }
  function history() {
    const p = item().pop, box = $("history"), id = cur;
    box.replaceChildren(el("p", "Cargando…", "muted"));
    if (!p.caller_num) { box.replaceChildren(el("p", "Número oculto: sin historial", "muted")); return; }
    get("/api/historial?numero=" + encodeURIComponent(p.caller_num) + "&excluir=" + encodeURIComponent(id))
      .then((rows) => {
        if (cur !== id) return;
        box.replaceChildren();
        if (!rows.length) { box.append(el("p", "Sin interacciones anteriores de este número", "muted")); return; }
        const ul = el("ul");
        rows.forEach((r) => {
          const li = el("li");
          li.append(el("span", when(r.recorded_at_ms), "muted"), document.createTextNode(" · " + r.service_name + " · "),
            el("strong", r.outcome_label));
          if (r.note) li.append(el("div", r.note));
          ul.append(li);
        });
        box.append(ul);
      }).catch((e) => { if (cur === id) box.replaceChildren(el("p", "Historial no disponible: " + e.message, "error")); });
  }

  // ------------------------------------------------------------------ the walk
  function walk() {
    const w = item(), id = cur;
    if (w.generic) { showGeneric(); return; }
    if (!w.pop.script_id) {
      $("script-title").textContent = "Sin guion para este servicio: use «Otros resultados»";
      return;
    }
    post("/api/paso", { script_id: w.pop.script_id, trail: w.trail, at: w.pop.answered_at })
      .then((view) => { if (cur === id) render(view); })
      .catch((err) => {
        if (cur !== id) return;
        $("script-title").textContent = "No se pudo cargar el guion de esta llamada";
        $("step").replaceChildren(); $("options").replaceChildren();
        const retry = el("button", "Reintentar", "quiet");
        retry.addEventListener("click", walk);
        $("options").append(retry);
        fail(err);
      });
  }
  function render(view) {
    const w = item();
    $("error").textContent = "";
    $("script-title").textContent = view.script.title;
    const step = $("step"); step.replaceChildren();
    const opts = $("options"); opts.replaceChildren();
    if (view.finished) {
      showOutcome("Resultado: " + view.outcome.label);
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
    let focus = null;
    view.options.forEach((o, n) => {
      const hint = o.index === view.suggested;
      const label = (n < 9 ? n + 1 + ". " : "") + o.label + (hint ? " (sugerido por la hora de la llamada)" : "");
      const b = el("button", label, hint ? "suggested" : undefined);
      b.addEventListener("click", () => {
        opts.replaceChildren(); // one choice per step: the next click waits for the next step
        w.trail.push([s.number, o.index]);
        saveSoon(cur); walk();
      });
      opts.append(b);
      if (hint || !focus) focus = b;
    });
    if (focus && !typing()) focus.focus();
  }
  function showOutcome(text) {
    $("outcome").hidden = false;
    $("outcome-label").textContent = text;
    $("save").disabled = false;
    $("note").focus();
  }
  function showGeneric() {
    $("options").replaceChildren(); $("step").replaceChildren();
    showOutcome("Resultado: " + GENERIC[item().generic]);
  }
  function typing() {
    const a = document.activeElement;
    return a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.tagName === "SELECT");
  }
  document.querySelectorAll("[data-generic]").forEach((b) => b.addEventListener("click", () => {
    const w = item();
    if (!w) return;
    w.generic = b.dataset.generic;
    saveSoon(cur); showGeneric();
  }));
  $("note").addEventListener("input", () => {
    const w = item();
    if (!w) return;
    w.note = $("note").value;
    saveSoon(cur);
  });
  $("back").addEventListener("click", () => {
    const w = item();
    if (w.generic) w.generic = "";
    else w.trail.pop();
    saveSoon(cur); walk();
  });

  // ------------------------------------------------------------------ recording
  function record() {
    const w = item(), id = cur;
    if (!w || sending || $("outcome").hidden) return;
    sending = true; $("save").disabled = true;
    clearTimeout(w.timer);
    post("/api/trabajos/" + encodeURIComponent(id) + "/registrar", {
      script_id: w.pop.script_id, script_version: w.pop.script_version,
      trail: w.trail, note: $("note").value, generic: w.generic,
    }).then((saved) => {
      items.delete(id);
      const text = "Interacción registrada: " + saved.outcome_label;
      const next = items.keys().next();
      if (!next.done) {
        select(next.value);
        $("saved").hidden = false; $("saved").textContent = text + " · siguiente llamada en pantalla";
      } else {
        cur = null;
        $("outcome").hidden = true; $("options").replaceChildren(); $("step").replaceChildren();
        $("saved").hidden = false; $("saved").textContent = text;
        $("call-state").textContent = "Registrada"; $("call-state").className = "state ended";
        showPending();
      }
    }).catch((err) => { $("save").disabled = false; fail(err); })
      .finally(() => { sending = false; });
  }
  $("save").addEventListener("click", record);

  // ------------------------------------------------------------------ keyboard
  document.addEventListener("keydown", (e) => {
    seen();
    if (!cur || e.ctrlKey || e.altKey || e.metaKey) return;
    const t = e.target;
    if (t && t.id === "note") {
      if (e.key === "Enter" && !e.shiftKey && !$("outcome").hidden) { e.preventDefault(); record(); }
      return;
    }
    if (typing()) return;
    if (/^[1-9]$/.test(e.key)) {
      const b = $("options").querySelectorAll("button")[Number(e.key) - 1];
      if (b) { e.preventDefault(); b.click(); }
    } else if (e.key === "Enter" && !$("outcome").hidden && !(t && t.tagName === "BUTTON")) {
      e.preventDefault(); record();
    }
  });

  // ------------------------------------------------------------------ attention
  const notify = $("notify");
  notify.checked = localStorage.getItem("centralita.aviso") === "1";
  notify.addEventListener("change", () => {
    localStorage.setItem("centralita.aviso", notify.checked ? "1" : "0");
    if (notify.checked && "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  });
  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.25].forEach((at) => {
        const osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = 880; osc.connect(gain); gain.connect(audio.destination);
        gain.gain.setValueAtTime(0.2, audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.18);
        osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.2);
      });
    } catch (e) { /* no audio device: the title still changes */ }
  }
  function attention(pop) {
    unseen += 1;
    document.title = "(" + unseen + ") Llamada nueva · " + TITLE;
    if (!notify.checked) return;
    beep();
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      try { new Notification("Llamada nueva", { body: (pop.caller_num || "número oculto") + " · " + pop.service_name }); } catch (e) { /* ignore */ }
    }
  }
  function seen() { if (unseen) { unseen = 0; document.title = TITLE; } }
  document.addEventListener("click", seen);
  window.addEventListener("focus", seen);

  // ------------------------------------------------------------------ stream
  function ended(ev) {
    const at = Date.parse(ev.at);
    const w = items.get(ev.call_id);
    if (!w || isNaN(at)) return;
    w.ended = at;
    acwUntil = Math.max(acwUntil || 0, at + (w.wrapup_s || 0) * 1000);
    showPending(); tick();
    setTimeout(refresh, 500);
  }
  function connect() {
    const agent = document.body.dataset.agent;
    const source = new EventSource("/api/pops/stream" + (agent ? "" : "?agent="));
    source.onopen = () => $("link").classList.add("on");
    source.onerror = () => $("link").classList.remove("on");
    source.addEventListener("screenpop", (e) => {
      const pop = JSON.parse(e.data);
      add(pop);
      // one event stream per page: the call controls (controls.js) hear the pops here
      document.dispatchEvent(new CustomEvent("centralita:screenpop", { detail: pop }));
    });
    source.addEventListener("fin", (e) => ended(JSON.parse(e.data)));
  }
  window.addEventListener("pagehide", () => { items.forEach((w, id) => { if (w.timer) saveNow(id); }); });
  setInterval(tick, 1000);
  connect();
  // The server's work items: on load, and after a new call or a call's end (its queue's
  // after-call time and the end as stored).
  function refresh() {
    if (!document.body.dataset.agent) return Promise.resolve();
    return get("/api/trabajos").then((data) => {
      clockOffset = data.now_ms - Date.now();
      if (data.after_call_until_ms) acwUntil = Math.max(acwUntil || 0, data.after_call_until_ms);
      data.items.forEach((saved) => {
        const w = items.get(saved.call_id);
        if (w) { if (saved.call_ended_at_ms) w.ended = saved.call_ended_at_ms; w.wrapup_s = saved.wrapup_s; }
        else add(saved.pop, saved);
      });
      if (cur) { tick(); showPending(); }
      showMail();
    }).catch(fail);
  }
  refresh();
  setInterval(showMail, 15000);  // an e-mail goes from pending to sent on its own
})();
