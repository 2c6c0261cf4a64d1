"""The IVR's sound files: synthesized in Spanish from `[prompts]`, and checked on the PBX.

`synthesize` speaks every prompt's text with espeak-ng and converts it with sox into the
formats Asterisk plays without transcoding from a telephone channel: 8 kHz mono signed
linear (`.sln`, raw 16-bit), mu-law (`.ulaw`, raw) and GSM (`.gsm`). The files go to the
PBX's sounds directory for the channel language (`/var/lib/asterisk/sounds/es/`).
Digits and numbers are not ours: SAY DIGITS / SAY NUMBER play Asterisk's own Spanish core
sounds, installed on the PBX from `CORE_SOUNDS_PACKAGE`.

`missing` lists the prompts that have no playable file in a sounds directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from centralita.ivr.exceptions import SoundToolError, SoundToolMissingError
from centralita.ivr.flow_config import IvrConfig

FORMATS: Final = ("sln", "ulaw", "gsm")
"""What `synthesize` writes for each prompt, by file extension."""

DEFAULT_VOICE: Final = "es-419"
"""espeak-ng's Latin American Spanish."""

DEFAULT_SPEED_WPM: Final = 150

CORE_SOUNDS_PACKAGE: Final = "asterisk-core-sounds-es-gsm"
"""The Debian package with Asterisk's Spanish digits and numbers (SAY DIGITS), on the PBX."""

PLAYABLE: Final = frozenset(
    {
        "sln", "raw", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
        "ulaw", "ul", "mu", "ulw", "pcm", "alaw", "al", "alw",
        "gsm", "wav", "wav16", "WAV", "wav49",
        "g722", "g729", "g723", "g726-16", "g726-24", "g726-32", "g726-40",
        "ilbc", "siren7", "siren14", "vox", "ogg", "spx",
    }
)  # fmt: skip
"""Extensions of Asterisk's audio format modules: any one of them makes a prompt playable."""

_SOX_OUTPUT: Final = {
    "sln": ("-b", "16", "-e", "signed-integer", "-t", "raw"),
    "ulaw": ("-e", "u-law", "-t", "raw"),
    "gsm": ("-t", "gsm"),
}

Run = Callable[[Sequence[str], bytes], None]
"""Runs one tool: its argv and its stdin; raises SoundToolError when it fails."""


@dataclass(frozen=True, slots=True)
class Tools:
    """The programs `synthesize` runs, resolved on PATH."""

    espeak: str
    sox: str


def find_tools() -> Tools:
    """espeak-ng and a sox that writes GSM.

    Raises:
        SoundToolMissingError: one is missing; the message says which Debian package.
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SoundToolMissingError(
            "falta espeak-ng: instale el paquete Debian espeak-ng (apt-get install espeak-ng)",
            "espeak-ng",
        )
    sox = shutil.which("sox")
    if sox is None:
        raise SoundToolMissingError(
            "falta sox: instale el paquete Debian sox (apt-get install sox)", "sox"
        )
    try:
        help_text = subprocess.run(  # noqa: S603 -- sox from PATH, fixed arguments, no shell
            [sox, "-h"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SoundToolError(f"sox -h: {exc}") from exc
    formats = next((ln for ln in help_text.splitlines() if ln.startswith("AUDIO FILE")), "")
    if "gsm" not in formats.split():
        raise SoundToolMissingError(
            "sox no sabe escribir GSM: instale el paquete Debian libsox-fmt-base "
            "(apt-get install libsox-fmt-base)",
            "libsox-fmt-base",
        )
    return Tools(espeak=espeak, sox=sox)


def run_tool(argv: Sequence[str], stdin: bytes) -> None:
    """Run one tool to the end; its error output becomes a SoundToolError."""
    try:
        done = subprocess.run(  # noqa: S603 -- espeak-ng/sox from PATH, our arguments, no shell
            list(argv), input=stdin, capture_output=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SoundToolError(f"{Path(argv[0]).name}: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = reason[-1] if reason else f"exit {done.returncode}"
        raise SoundToolError(f"{Path(argv[0]).name} falló: {last}")


def synthesize(
    config: IvrConfig,
    out: Path,
    tools: Tools,
    *,
    voice: str = DEFAULT_VOICE,
    speed_wpm: int = DEFAULT_SPEED_WPM,
    run: Run = run_tool,
) -> list[Path]:
    """Write `<prompt>.sln|.ulaw|.gsm` into `out` for every prompt with its text.

    Each file is written beside its final name and renamed into place, so a PBX reading
    the directory never plays half a file. Returns the files written, in order.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="centralita-prompts-") as scratch:
        speech = Path(scratch) / "speech.wav"
        for name, text in sorted(config.prompts.items()):
            espeak = [tools.espeak, "-v", voice, "-s", str(speed_wpm), "-w", str(speech)]
            run([*espeak, "--stdin"], text.encode("utf-8"))
            for ext in FORMATS:
                target = out / f"{name}.{ext}"
                partial = out / f".{name}.{ext}.part"
                # -R: repeatable (fixed dither seed), so the same text gives the same bytes.
                sox = [tools.sox, "-R", str(speech), "-r", "8000", "-c", "1"]
                run([*sox, *_SOX_OUTPUT[ext], str(partial)], b"")
                os.replace(partial, target)
                written.append(target)
    return written


def playable_files(sounds_dir: Path, prompt: str) -> list[Path]:
    """The non-empty files Asterisk could play for `prompt` in `sounds_dir`."""
    found = []
    for path in sounds_dir.glob(f"{glob.escape(prompt)}.*"):
        if path.suffix[1:] in PLAYABLE and path.is_file() and path.stat().st_size > 0:
            found.append(path)
    return sorted(found)


def missing(config: IvrConfig, sounds_dir: Path) -> list[str]:
    """The prompts with no playable (non-empty) file in `sounds_dir`, sorted."""
    return [name for name in sorted(config.prompts) if not playable_files(sounds_dir, name)]
