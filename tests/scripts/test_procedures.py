"""Each script against its procedure in the seed (GC-PRC-OPE-ASE-02, sections A to K)."""

from __future__ import annotations

import pytest

from centralita.scripts import SERVICE_IDS, Script, load_all, load_script
from tests.scripts.helpers import conditions, ends_in, gotos, handoff_targets, step, system_names


@pytest.fixture(scope="module")
def scripts() -> dict[str, Script]:
    return load_all()


def numbers(script: Script) -> list[int]:
    return [s.number for s in script.steps]


# --- all scripts ------------------------------------------------------------------------


def test_all_eleven_services_in_procedure_order(scripts: dict[str, Script]) -> None:
    assert list(scripts) == list(SERVICE_IDS)
    assert [s.section for s in scripts.values()] == list("ABCDEFGHIJK")
    for script_id, script in scripts.items():
        assert script.id == script_id
        assert script.source == "GC-PRC-OPE-ASE-02"
        assert script.version >= 1


def test_measured_by_att_as_the_objective_says(scripts: dict[str, Script]) -> None:
    measured = {s.id for s in scripts.values() if s.measured_by_att}
    assert measured == {"101", "104", "800131313", "4639999"}


@pytest.mark.parametrize(
    ("script_id", "service"),
    [
        ("101", "Reclamos Técnicos"),
        ("102", "Información de Facturación"),
        ("103", "Información de Instalaciones"),
        ("104", "Información de Números Telefónicos"),
        ("4200224", "Información Guía Comercial"),
        ("4251000", "Central Telefónica COMTECO R.L."),
        ("4522222", "Información TV Paga y Go On TV"),
        ("800131313", "Boliviatel"),
        ("800130001", "MIO y Venta Shopper"),
        ("4639999", "Telefonía Pública"),
        ("prepago", "Clientes Prepago"),
    ],
)
def test_service_names_in_spanish(script_id: str, service: str) -> None:
    assert load_script(script_id).service == service


def test_every_inbound_script_greets_and_asks(scripts: dict[str, Script]) -> None:
    for script in scripts.values():
        if script.id == "prepago":
            continue
        first = step(script, 1)
        assert first.text == "Brinda saludo de acuerdo a protocolo"
        assert [(sub.ref, sub.text) for sub in first.substeps] == [
            ("1.1", "Solicita la información requerida")
        ]
        assert first.questions, script.id


# --- A) 101 -----------------------------------------------------------------------------


def test_101_steps_1_to_12() -> None:
    script = load_script("101")
    assert numbers(script) == list(range(1, 13))
    assert script.start == 1
    assert [s.actor for s in script.steps] == ["agente"] * 12


def test_101_data_and_smartflex_module() -> None:
    script = load_script("101")
    assert "carnet de identidad" in step(script, 2).substeps[0].text
    assert step(script, 3).systems[0].name == "Smartflex"
    assert "CNCRM_FVE" in (step(script, 3).systems[0].detail or "")
    assert step(script, 4).substeps[0].text == "Ingresa a pestaña Daños a Producto"


def test_101_step_5_damage_record_exists_or_not() -> None:
    script = load_script("101")
    assert gotos(script, 5) == [6, 7]
    assert "existe registro de daño" in conditions(script, 5)[0]
    assert conditions(script, 5)[1].startswith("Caso contrario")


def test_101_step_6_three_status_branches() -> None:
    script = load_script("101")
    assert gotos(script, 6) == [8, 10, 11]
    registered, suspended, attended = conditions(script, 6)
    assert "estado Registrado ó en Ejecución" in registered
    assert "continúa con paso 8" in registered
    assert "estado Suspendido" in suspended
    assert "estado Atendido y no está con servicio" in attended


def test_101_closings_and_handoffs() -> None:
    script = load_script("101")
    assert ends_in(script, 7) == "dano_generado"
    assert script.outcome("dano_generado").procedure == "OPE-PAS-P04"
    assert step(script, 8).next == 9
    assert "misma causal" in step(script, 8).text
    assert handoff_targets(script, 9) == ["gsi"]
    assert system_names(script, 9) == ["GSI"]
    assert ends_in(script, 9) == "dano_reiterado_gsi"
    assert "falta de pago o a solicitud del cliente" in step(script, 10).text
    assert ends_in(script, 10) == "corte_informado"
    assert [sub.ref for sub in step(script, 11).substeps] == ["11.1"]
    assert handoff_targets(script, 11) == ["centro_operaciones"]
    assert "segmentación de clientes" in step(script, 11).substeps[0].text
    assert step(script, 11).next == 12
    assert "Interacción" in step(script, 12).text
    assert ends_in(script, 12) == "atencion_prioritaria_gestionada"


# --- B) 102 -----------------------------------------------------------------------------


def test_102_steps_agent_1_to_7_supervisor_8_to_11() -> None:
    script = load_script("102")
    assert numbers(script) == list(range(1, 12))
    assert [s.number for s in script.steps if s.actor == "supervisora"] == [8, 9, 10, 11]


def test_102_step_4_three_kinds_of_request() -> None:
    script = load_script("102")
    assert gotos(script, 4) == [5, 6, 7]
    billing, paid_no_service, excessive = conditions(script, 4)
    assert "Certificado de Aportación" in billing
    assert "factura cancelada y sin servicio" in paid_no_service
    assert "cobro excesivo de consumo" in excessive
    assert "Estado de Cuentas" in step(script, 4).text


def test_102_closings_101_and_supervision() -> None:
    script = load_script("102")
    assert ends_in(script, 5) == "facturacion_informada"
    assert handoff_targets(script, 6) == ["101"]
    assert ends_in(script, 6) == "derivado_101"
    assert handoff_targets(script, 7) == ["supervision"]
    assert ends_in(script, 7) == "derivado_supervision"
    assert script.outcome("derivado_supervision").continues_at == 8


def test_102_supervisor_decides_the_claim() -> None:
    script = load_script("102")
    assert step(script, 8).next == 9
    assert gotos(script, 9) == [10, 11]
    assert ends_in(script, 10) == "reclamo_economico_registrado"
    assert script.outcome("reclamo_economico_registrado").procedure == "FIN-FAC-P03"
    assert ends_in(script, 11) == "detalle_factura_explicado"


# --- C) 103 -----------------------------------------------------------------------------


def test_103_steps_agent_1_to_13_supervisor_14_15() -> None:
    script = load_script("103")
    assert numbers(script) == list(range(1, 16))
    assert [s.number for s in script.steps if s.actor == "supervisora"] == [14, 15]


def test_103_four_work_order_states() -> None:
    script = load_script("103")
    assert gotos(script, 4) == [5, 6, 7, 9]
    states = conditions(script, 4)
    for condition, state in zip(
        states,
        ["estado registrado", "estado asignado", "estado cerrado (sin servicio)", "estado anulado"],
        strict=True,
    ):
        assert state in condition
    assert "CNCRM_FVE" in (step(script, 4).systems[0].detail or "")


def test_103_each_state_ends_where_the_document_says() -> None:
    script = load_script("103")
    assert "1 a 10 días" in step(script, 5).text
    assert ends_in(script, 5) == "dentro_de_plazo"
    assert step(script, 6).next == 8
    assert ends_in(script, 8) == "gestion_en_curso"
    assert handoff_targets(script, 7) == ["supervision", "operador_zona", "gsi"]
    assert ends_in(script, 7) == "orden_cerrada_derivada"


def test_103_annulled_order_cause_and_two_branches() -> None:
    script = load_script("103")
    assert step(script, 9).next == 10
    assert "abonado ausente, dirección errónea" in step(script, 9).substeps[0].text
    assert gotos(script, 10) == [11, 12]
    assert "falta de capacidad técnica" in conditions(script, 10)[0]
    assert "atribuible al cliente" in conditions(script, 10)[1]
    assert ends_in(script, 11) == "sin_capacidad_tecnica"
    assert len(step(script, 12).questions) == 2
    assert step(script, 12).next == 13
    assert handoff_targets(script, 13) == ["supervision"]
    assert script.outcome(ends_in(script, 13)).continues_at == 14
    assert step(script, 14).next == 15
    assert handoff_targets(script, 15) == ["jefatura_sector"]
    assert ends_in(script, 15) == "nueva_digitacion_solicitada"


# --- D) 104 -----------------------------------------------------------------------------


def test_104_guiatel_and_reserved_numbers() -> None:
    script = load_script("104")
    assert numbers(script) == [1, 2, 3, 4, 5]
    assert system_names(script, 2) == ["Guiatel"]
    assert gotos(script, 2) == [3, 4]
    assert gotos(script, 3) == [4, 5]
    assert "está en reserva" in conditions(script, 3)[0]
    assert "no está en reserva" in conditions(script, 3)[1]
    assert ends_in(script, 4) == "sin_registro"
    assert ends_in(script, 5) == "numero_informado"


# --- E) 4200224 -------------------------------------------------------------------------


def test_4200224_guia_comercial_loop() -> None:
    script = load_script("4200224")
    assert numbers(script) == list(range(1, 8))
    assert system_names(script, 2) == ["Guía Comercial (ICONO)"]
    assert gotos(script, 2) == [3, 4]
    assert step(script, 3).next == 5
    assert step(script, 4).next == 5
    assert step(script, 5).questions == ("¿Tiene algún otro requerimiento?",)
    assert gotos(script, 5) == [6, 7]
    assert gotos(script, 6) == [3, 4]  # a new query has the same two results as step 2
    assert ends_in(script, 7) == "consulta_atendida"


# --- F) 4251000 -------------------------------------------------------------------------


def test_4251000_p_empleados_and_transfer() -> None:
    script = load_script("4251000")
    assert numbers(script) == [1, 2, 3]
    assert system_names(script, 2) == ["P_Empleados"]
    assert handoff_targets(script, 3) == ["interno"]
    assert ends_in(script, 3) == "derivado_interno"


# --- G) 4522222 -------------------------------------------------------------------------


def test_4522222_four_requests_land_on_their_content() -> None:
    script = load_script("4522222")
    assert numbers(script) == list(range(1, 8))
    assert gotos(script, 2) == [3, 5, 6, 7]
    billing, no_service, decoder, commercial = conditions(script, 2)
    assert "facturación" in billing
    assert "no tiene servicio" in no_service
    assert "decodificador" in decoder
    assert "Comercial" in commercial
    # the document's own (shifted) numbers are kept as notes
    notes = [branch.note for branch in step(script, 2).branches]
    assert notes[0] is None
    assert all(note and "El documento dice paso" in note for note in notes[1:])


def test_4522222_closings_and_101() -> None:
    script = load_script("4522222")
    assert step(script, 3).next == 4
    assert ends_in(script, 4) == "facturacion_informada"
    assert handoff_targets(script, 5) == ["101"]
    assert ends_in(script, 5) == "derivado_101_sin_servicio"
    assert handoff_targets(script, 6) == ["101"]
    assert [b.outcome for b in step(script, 6).branches] == [
        "decodificador_configurado",
        "derivado_101_decodificador",
    ]
    assert ends_in(script, 7) == "informacion_comercial"


# --- H) 800131313 -----------------------------------------------------------------------


def test_800131313_four_requests_then_step_8() -> None:
    script = load_script("800131313")
    assert numbers(script) == list(range(1, 9))
    assert gotos(script, 3) == [4, 5, 6, 7]
    assert "Error 62" in conditions(script, 3)[0]
    assert "Saldos" in conditions(script, 3)[1]
    assert "problema técnico" in conditions(script, 3)[2]
    assert "códigos" in conditions(script, 3)[3]
    for number in (4, 5, 6, 7):
        assert step(script, number).next == 8
    assert system_names(script, 4) == ["Logistic One (Btel2)"]
    assert handoff_targets(script, 6) == ["nocc"]
    assert system_names(script, 7) == ["GSI"]
    assert ends_in(script, 8) == "informacion_brindada"


# --- I) 800130001 -----------------------------------------------------------------------


def test_800130001_mio_and_shopper() -> None:
    script = load_script("800130001")
    assert numbers(script) == list(range(1, 12))
    assert gotos(script, 2) == [3, 9]
    assert gotos(script, 3) == [4, 6, 8]
    assert "bloqueo del SIM por robo" in conditions(script, 3)[0]
    assert "LBC Suspensión Administrativa" in step(script, 4).text
    assert step(script, 4).next == 5
    assert "5 días" in step(script, 5).substeps[0].text
    assert ends_in(script, 5) == "sim_bloqueado"
    assert step(script, 6).next == 7
    assert system_names(script, 7) == ["QBC"]
    assert ends_in(script, 7) == "saldo_incrementado"
    assert ends_in(script, 8) == "informacion_mio"
    assert gotos(script, 9) == [10, 11]
    assert handoff_targets(script, 10) == ["encargado_venta_shopper"]
    assert script.outcome(ends_in(script, 10)).procedure == "COM-DSC-P15"
    assert ends_in(script, 11) == "pagina_shopper_informada"


# --- J) 4639999 -------------------------------------------------------------------------


def test_4639999_billing_or_fault() -> None:
    script = load_script("4639999")
    assert numbers(script) == list(range(1, 9))
    assert gotos(script, 3) == [4, 6]
    assert step(script, 4).next == 5
    assert ends_in(script, 5) == "facturacion_informada"


def test_4639999_friday_noon_rule() -> None:
    script = load_script("4639999")
    weekday, weekend = step(script, 6).branches
    assert "Lunes a medio día del Viernes" in weekday.condition
    assert weekday.outcome == "dano_registrado"
    assert script.outcome("dano_registrado").procedure == "OPE-PAS-P04"
    assert "después de medio día del Viernes hasta el Domingo" in weekend.condition
    assert weekend.goto == 7
    assert weekday.window is not None
    assert weekend.window is not None
    assert (weekday.window.start_day, weekday.window.start_time) == (1, "00:00")
    assert (weekday.window.end_day, weekday.window.end_time) == (5, "12:00")
    assert (weekend.window.start_day, weekend.window.start_time) == (5, "12:00")
    assert (weekend.window.end_day, weekend.window.end_time) == (1, "00:00")
    assert handoff_targets(script, 7) == ["encargado_telefonia_publica"]
    assert "Nelson Lopez" in step(script, 7).substeps[0].text
    assert step(script, 7).next == 8
    assert ends_in(script, 8) == "dano_derivado_encargado"


# --- K) prepago -------------------------------------------------------------------------


def test_prepago_supervisor_agents_supervisor() -> None:
    script = load_script("prepago")
    assert [(s.label, s.actor) for s in script.steps] == [
        ("Supervisora 1", "supervisora"),
        ("Supervisora 2", "supervisora"),
        ("Supervisora 3", "supervisora"),
        ("Agente 1", "agente"),
        ("Agente 2", "agente"),
        ("Agente 3", "agente"),
        ("Supervisora 4", "supervisora"),
    ]
    assert "CCVP Prepagos" in step(script, 1).text
    assert "Internet y Televisión por Cable" in step(script, 2).text
    assert script.outcome(ends_in(script, 3)).continues_at == 4
    assert "fecha de vencimiento" in step(script, 5).text
    assert "25 de mes anterior" in step(script, 5).substeps[0].text
    assert handoff_targets(script, 6) == ["supervision"]
    assert script.outcome(ends_in(script, 6)).continues_at == 7
    assert "efectividad" in step(script, 7).text
    assert ends_in(script, 7) == "efectividad_revisada"
