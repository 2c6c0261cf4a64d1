"use strict";
// The supervisor's pages: interactions (search, CSV), handovers (inbox), reports.
(function () {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const HEADERS = { "Content-Type": "application/json", "X-Centralita": "1" };
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function cell(text, head, cls) {
    const td = el("td", text, cls);
    td.dataset.label = head;
    return td;
  }
  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("es-BO", { timeZone: "America/La_Paz" });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then((r) => {
      if (r.status === 401) { window.location.assign("/ingresar"); throw new Error("sesión"); }
      return r.json().then((data) => { if (!r.ok) throw new Error(data.error || r.statusText); return data; });
    });
  }
  function post(url, data) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: HEADERS, body: JSON.stringify(data) })
      .then((r) => r.json().then((d) => { if (!r.ok) throw new Error(d.error || r.statusText); return d; }));
  }
  function fill(select, values) {
    values.forEach((v) => {
      const [code, label] = v.split("\t");
      const o = el("option", label ? label + " (" + code + ")" : code);
      o.value = code;
      select.append(o);
    });
  }

  // ------------------------------------------------------------ interactions
  function interactions() {
    $("desde").value = body.dataset.today;
    $("hasta").value = body.dataset.today;
    const form = $("search");
    const query = () => new URLSearchParams(new FormData(form)).toString();
    function exportLink() { $("exportar").href = "/api/supervision/interacciones.csv?" + query(); }
    function run() {
      $("error").textContent = "";
      exportLink();
      getJSON("/api/supervision/interacciones?" + query()).then((data) => {
        const tb = document.querySelector("#results tbody"); tb.replaceChildren();
        data.rows.forEach((r) => {
          const tr = el("tr");
          tr.dataset.id = r.id;
          const caller = (r.caller_num || "—") + (r.caller_name ? " · " + r.caller_name : "");
          tr.append(
            cell(when(r.recorded_at), "Fecha"),
            cell(r.agent + (r.user && r.user !== r.agent ? " (" + r.user + ")" : ""), "Agente"),
            cell(r.service, "Servicio"),
            cell(r.outcome_label || r.outcome_code, "Resultado"),
            cell(caller, "Llamante"),
            cell(r.note || "—", "Nota", "note"),
          );
          tb.append(tr);
        });
        $("count").textContent = data.rows.length + (data.more ? "+ (refine la búsqueda)" : "") +
          (data.rows.length === 1 ? " interacción" : " interacciones");
      }).catch((e) => { $("error").textContent = e.message; });
    }
    form.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
    form.addEventListener("change", exportLink);
    getJSON("/api/supervision/opciones").then((f) => {
      fill($("agente"), f.agents); fill($("servicio"), f.services); fill($("resultado"), f.outcomes);
    }).catch(() => {});
    run();
  }

  // ------------------------------------------------------------ handovers
  function handovers() {
    let supervisors = [];
    function card(h) {
      const box = el("article", null, "item " + h.state);
      box.dataset.id = h.id;
      box.dataset.state = h.state;
      const title = el("h3", "#" + h.id + " · " + h.service + (h.service_name ? " " + h.service_name : "") + " · ");
      title.append(el("span", h.state_label, "badge " + h.state));
      const dl = el("dl");
      const add = (k, v) => { if (v) { dl.append(el("dt", k), el("dd", v)); } };
      add("Recibido", when(new Date(h.created_at_ms).toISOString()));
      add("Agente", h.agent + (h.agent_user && h.agent_user !== h.agent ? " (" + h.agent_user + ")" : ""));
      add("Resultado del agente", h.outcome_label);
      add("Llamante", h.caller_num);
      add("Cliente", h.customer);
      add("Nota del agente", h.agent_note);
      add("Pasos de supervisión", h.steps.map((s) => s.label + ". " + s.text).join("\n"));
      add("Asignado a", h.assigned_to);
      if (h.state === "closed") {
        add("Cerrado por", h.closed_by + " · " + when(new Date(h.closed_at_ms).toISOString()));
        add("Resultado", h.resolution_label);
        add("Nota de cierre", h.close_note);
        add("Correos", (h.mail || []).map((m) => "Paso " + m.step + " a " + m.recipient + ": " + m.state_label).join("\n"));
      }
      box.append(title, dl);
      if (h.state !== "closed") {
        const take = el("form", null, "assign");
        const who = el("select"); who.name = "supervisor"; who.setAttribute("aria-label", "Asignar a");
        supervisors.forEach((s) => { const o = el("option", s); o.value = s; if (s === (h.assigned_to || body.dataset.user)) o.selected = true; who.append(o); });
        const b = el("button", h.assigned_to ? "Reasignar" : "Asignar"); b.type = "submit"; b.className = "quiet";
        take.append(who, b);
        take.addEventListener("submit", (ev) => {
          ev.preventDefault();
          post("/api/supervision/traspasos/" + h.id + "/asignar", { supervisor: who.value }).then(load).catch(show);
        });
        const close = el("form", null, "close");
        const res = el("select"); res.name = "resultado"; res.setAttribute("aria-label", "Resultado de la supervisión");
        const none = el("option", "Resultado…"); none.value = ""; res.append(none);
        h.resolutions.forEach((r) => { const o = el("option", r.label); o.value = r.code; res.append(o); });
        const note = el("textarea"); note.name = "nota"; note.placeholder = "Nota de cierre"; note.setAttribute("aria-label", "Nota de cierre"); note.maxLength = 4000;
        const c = el("button", "Cerrar traspaso"); c.type = "submit";
        close.append(res, note, c);
        close.addEventListener("submit", (ev) => {
          ev.preventDefault();
          post("/api/supervision/traspasos/" + h.id + "/cerrar", { resultado: res.value, nota: note.value }).then(load).catch(show);
        });
        box.append(take, close);
      }
      return box;
    }
    function show(e) { $("error").textContent = e.message; }
    function load() {
      $("error").textContent = "";
      getJSON("/api/supervision/traspasos?estado=" + encodeURIComponent($("estado").value)).then((data) => {
        supervisors = data.supervisors;
        const list = $("inbox"); list.replaceChildren(...data.items.map(card));
        $("empty").hidden = data.items.length > 0;
        $("count").textContent = data.items.length + (data.items.length === 1 ? " traspaso" : " traspasos");
      }).catch(show);
    }
    $("estado").addEventListener("change", load);
    load();
    setInterval(() => { if (!document.activeElement || !document.activeElement.closest("form")) load(); }, 15000);
  }

  // ------------------------------------------------------------ reports
  function reports() {
    $("mes").value = body.dataset.month;
    $("sup-mes").value = body.dataset.month;
    $("campana-mes").value = body.dataset.month;
    function links() {
      const k = "/api/supervision/campana?mes=" + encodeURIComponent($("campana-mes").value);
      $("campana-txt").href = k + "&formato=texto";
      $("campana-xlsx").href = k + "&formato=xlsx";
      ["xlsx", "pdf", "csv"].forEach((f) => {
        $("att-" + f).href = "/api/supervision/informe?mes=" + encodeURIComponent($("mes").value) + "&formato=" + f;
      });
      const q = $("sup-dia").value ? "dia=" + encodeURIComponent($("sup-dia").value) : "mes=" + encodeURIComponent($("sup-mes").value);
      $("sup-txt").href = "/api/supervision/reporte?" + q + "&formato=texto";
      $("sup-json").href = "/api/supervision/reporte?" + q + "&formato=json";
    }
    $("sup-dia").addEventListener("input", () => { if ($("sup-dia").value) $("sup-mes").value = ""; links(); });
    $("sup-mes").addEventListener("input", () => { if ($("sup-mes").value) $("sup-dia").value = ""; links(); });
    $("mes").addEventListener("input", links);
    $("campana-mes").addEventListener("input", links);
    links();
  }

  ({ interactions, handovers, reports })[body.dataset.page]();
})();
