"""`ivr prompts synthesize` with the real espeak-ng and sox, and `ivr prompts check`.

Needs the Debian packages espeak-ng and sox (the gsm format is in libsox-fmt-base, a
dependency of sox).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from centralita.ivr.flow_config import load_config
from tests.ivr.test_commands import run_cli

PROMPTS = sorted(load_config().prompts)
RAW_8K = {
    "sln": ["-t", "raw", "-r", "8000", "-e", "signed-integer", "-b", "16", "-c", "1"],
    "ulaw": ["-t", "raw", "-r", "8000", "-e", "u-law", "-c", "1"],
    "gsm": ["-t", "gsm"],
}


def sox_stat(path: Path, *read_as: str) -> dict[str, float]:
    """sox's `stat` of a file read as `read_as` (length in seconds, amplitudes)."""
    done = subprocess.run(
        ["sox", *read_as, str(path), "-n", "stat"], capture_output=True, text=True, check=True
    )
    stats = {}
    for line in done.stderr.splitlines():
        key, sep, value = line.partition(":")
        if sep and re.fullmatch(r"\s*-?[\d.]+\s*", value):
            stats[key.strip()] = float(value)
    return stats


def soxi(path: Path, option: str) -> str:
    done = subprocess.run(["soxi", option, str(path)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sounds") / "es"
    assert run_cli(["ivr", "prompts", "synthesize", "--out", str(out)]) == 0
    return out


def test_every_prompt_in_every_format(synthesized: Path) -> None:
    expected = {f"{name}.{ext}" for name in PROMPTS for ext in ("sln", "ulaw", "gsm")}
    assert {p.name for p in synthesized.iterdir()} == expected


def test_files_are_8khz_mono_speech_of_one_length(synthesized: Path) -> None:
    for name in PROMPTS:
        sln = synthesized / f"{name}.sln"
        ulaw = synthesized / f"{name}.ulaw"
        gsm = synthesized / f"{name}.gsm"
        assert sln.stat().st_size % 2 == 0
        assert sln.stat().st_size // 2 == ulaw.stat().st_size  # one byte per mu-law sample
        assert soxi(gsm, "-r") == "8000"
        assert soxi(gsm, "-c") == "1"
        lengths = {}
        for ext, path in (("sln", sln), ("ulaw", ulaw), ("gsm", gsm)):
            stat = sox_stat(path, *RAW_8K[ext])
            assert stat["Length (seconds)"] > 0.5, (path, stat)
            assert stat["Maximum amplitude"] > 0.1, (path, stat)  # speech, not silence
            lengths[ext] = stat["Length (seconds)"]
        # GSM frames are 20 ms: the three encode the same 8 kHz samples
        assert abs(lengths["gsm"] - lengths["sln"]) < 0.021, (name, lengths)
        assert lengths["ulaw"] == lengths["sln"]


def test_sample_rate_is_really_8khz(synthesized: Path, tmp_path: Path) -> None:
    """Read as 8 kHz, the .sln lasts as long as espeak-ng's own (22050 Hz) speech."""
    name = "cc-saludo-101"
    wav = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "es-419", "-s", "150", "-w", str(wav), "--stdin"],
        input=load_config().prompts[name].encode(),
        check=True,
    )
    source_s = float(soxi(wav, "-D"))
    sln_s = (synthesized / f"{name}.sln").stat().st_size / 2 / 8000
    assert abs(sln_s - source_s) < 0.01, (sln_s, source_s)


def test_check_lists_what_the_pbx_lacks(
    synthesized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sounds = tmp_path / "es"
    shutil.copytree(synthesized, sounds)
    assert run_cli(["ivr", "prompts", "check", "--sounds-dir", str(sounds)]) == 0
    assert f"las {len(PROMPTS)} grabaciones del IVR están en {sounds}" in capsys.readouterr().out

    for ext in ("sln", "ulaw", "gsm"):
        (sounds / f"cc-saludo-101.{ext}").unlink()  # gone in every format
    (sounds / "cc-pida-carnet.sln").unlink()  # .ulaw and .gsm still play
    (sounds / "cc-dato-invalido.gsm").unlink()
    (sounds / "cc-dato-invalido.sln").unlink()
    (sounds / "cc-dato-invalido.ulaw").write_bytes(b"")  # empty: plays nothing
    (sounds / "cc-saludo-102.wav").write_bytes(b"RIFF")  # recorded by hand, as .wav
    for ext in ("sln", "ulaw", "gsm"):
        (sounds / f"cc-saludo-102.{ext}").unlink()
    assert run_cli(["ivr", "prompts", "check", "--sounds-dir", str(sounds)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"faltan 2 de {len(PROMPTS)} grabaciones en {sounds}:"
    assert out[1:3] == [
        "cc-dato-invalido\tEl dato marcado no es válido. Intente nuevamente.",
        "cc-saludo-101\tBienvenido al servicio 101 de Reclamos Técnicos.",
    ]
    assert "centralita ivr prompts synthesize" in out[3]


def test_check_of_a_directory_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["ivr", "prompts", "check", "--sounds-dir", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no existe ese directorio" in err


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only `tools` (links to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("present", "package"),
    [((), "espeak-ng"), (("espeak-ng",), "sox")],
    ids=["no-espeak", "no-sox"],
)
def test_missing_tool_names_the_debian_package(
    present: tuple[str, ...],
    package: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, *present))
    out = tmp_path / "out"
    assert run_cli(["ivr", "prompts", "synthesize", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"instale el paquete Debian {package}" in err
    assert not out.exists()


@pytest.mark.parametrize("before", [True, False], ids=["flows-first", "flows-last"])
def test_synthesize_reads_the_flows_option(
    before: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flows = tmp_path / "flows.toml"
    text = (Path(__file__).parents[2] / "centralita/ivr/flows.toml").read_text(encoding="utf-8")
    flows.write_text(
        text.replace("[prompts]\n", '[prompts]\n"cc-prueba" = "Prueba de sonido."\n'),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    action = ["synthesize", "--out", str(out)]
    option = ["--flows", str(flows)]
    argv = ["ivr", "prompts", *option, *action] if before else ["ivr", "prompts", *action, *option]
    assert run_cli(argv) == 0
    said = capsys.readouterr().out
    assert f"{len(PROMPTS) + 1} grabaciones" in said
    assert "asterisk-core-sounds-es-gsm" in said
    assert (out / "cc-prueba.sln").stat().st_size > 0


def test_synthesize_with_an_unknown_voice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run_cli(["ivr", "prompts", "synthesize", "--out", str(out), "--voice", "xx-nada"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("no se pudieron generar las grabaciones: espeak-ng falló")
    assert err.count("\n") == 1
    assert list(out.iterdir()) == []
