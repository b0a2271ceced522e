"""The scoring stage: after the calls, the received audio of a sample of them decoded and
scored, on every core.

During a phase a workload whose calls are heard (voip, webrtc) leaves a note beside its traces
(traces/<rep>-<phase>-<workload>.speech.json, written by workloads/_heard.py) naming the calls
to score and the scores asked for. Scoring is a stage of its own, run where the command
started: on this machine after a local run, or, after a run in the testbed VM (whose emulated
CPU would take minutes over it), on the host once the VM is done. When ViSQOL or DNSMOS is
asked for, call directions are scored side by side by a pool of processes, one per core (the
other scores are done before a worker would have started); the notes are finished in the
order their phases ran. It writes:

    audio/<rep>-<phase>-<workload>-call<N>-<direction>.flac   what the receiver played
    audio/reference-<media>.flac                             what was said
    speech.json                                              per call direction: the frames'
                                                             fates, the scores per window
and adds the scores (means over the scored directions) to the workload's metrics row.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import signal
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from testbed.errors import InputError
from testbed.measure.trace import load_traces
from testbed.report.speech import entries as speech_entries
from testbed.report.speech import mean_scores
from testbed.speech import media as media_files
from testbed.speech.reference import VOICES
from testbed.speech.scores import NAMES as SCORE_NAMES

PENDING = ".speech.json"
FATE_LETTERS = "pfltd"  # played, fec, lost, late, dtx: one letter per frame in speech.json
Progress = Callable[[str], None]
Progress = Callable[[str], None]


def drop_inputs(directory: Path) -> None:
    """Remove the traces and media that were kept only for scoring."""
    folder = directory / "traces"
    for path in [*folder.glob("*.npz"), *folder.glob("*-heard.flac")]:  # voip's traces, webrtc's recordings
        path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # unless something else is in it


def pending(directory: Path) -> list[Path]:
    return sorted((directory / "traces").glob(f"*{PENDING}"))


def _label(source: str) -> str:
    return source if source in VOICES else Path(source).name


def _write_flac(path: Path, samples: np.ndarray, rate: int) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two workers may write one reference
    soundfile.write(str(tmp), samples, rate, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


NOTE_KEYS = {"repetition", "phase", "workload", "calls"}
CALL_KEYS = {"voip": {"call", "uplink", "downlink"},
             "webrtc": {"call", "recording", "source", "codec", "played"}}
KIND_KEYS = {"voip": {"frames", "traces"}, "webrtc": set()}
NOTE_TYPES = {"repetition": int, "frames": int, "calls": list}  # the other keys hold text


def _note(path: Path) -> dict:
    """A pending note, or exit 2 naming it (half-written, or not a note)."""
    try:
        note = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError.single(f"cannot read the note of calls to score: {exc}", str(path)) from None
    kind = note.get("kind", "voip") if isinstance(note, dict) else None
    calls = note.get("calls") if isinstance(note, dict) else None
    if not (isinstance(kind, str) and kind in CALL_KEYS and isinstance(calls, list)
            and note.keys() >= NOTE_KEYS | KIND_KEYS[kind]
            and all(isinstance(note[k], NOTE_TYPES.get(k, str)) for k in NOTE_KEYS | KIND_KEYS[kind])
            and all(isinstance(c, dict) and c.keys() >= CALL_KEYS[kind] and isinstance(c["call"], int)
                    and all(isinstance(c[k], str) for k in CALL_KEYS[kind] - {"call"}) for c in calls)):
        known = kind if isinstance(kind, str) and kind in CALL_KEYS else "voip"
        needed = ", ".join(sorted(NOTE_KEYS | KIND_KEYS[known]))
        raise InputError.single(f"not a note of calls to score ({needed}, and per call "
                                f"{', '.join(sorted(CALL_KEYS[known]))})", str(path))
    which = note.setdefault("scores", list(SCORE_NAMES))  # notes written before `scores` ask for all
    if not (isinstance(which, list) and which and all(w in SCORE_NAMES for w in which if isinstance(w, str))
            and all(isinstance(w, str) for w in which)):
        raise InputError.single(f"scores: {which!r} is not a list of speech scores "
                                f"({', '.join(SCORE_NAMES)})", str(path))
    note["kind"] = kind
    return note


def _save_speech_json(directory: Path, entries: list[dict]) -> None:
    tmp = directory / "speech.json.tmp"
    tmp.write_text(json.dumps(entries, indent=1))
    os.replace(tmp, directory / "speech.json")


def score_direction(trace, media, frames: int, audio_path: Path,
                    which: tuple[str, ...] = SCORE_NAMES) -> dict:
    """One call direction: heard, scored (the scores `which`), its audio written; its
    speech.json entry."""
    from testbed.speech import assess
    from testbed.speech.reference import resample, to_int16

    heard = assess.score(assess.hear(trace, media, frames), media, which)
    rate = media.preset.scored_rate
    _write_flac(audio_path, to_int16(resample(heard.audio / 32768, heard.rate, rate)), rate)
    return {"source": _label(media.source), "codec": media.preset.name, "rate": rate,
            "frame_ms": media.preset.frame_ms, "frames": frames, "counts": heard.playout.counts(),
            "fates": "".join(FATE_LETTERS[f] for f in heard.playout.fates.tolist()),
            "heard": heard.heard, "silent": heard.silent, "scores": heard.scores, "windows": heard.windows}


def _reference_flac(directory: Path, name: str, samples: np.ndarray, rate: int, scored_rate: int) -> Path:
    """audio/reference-NAME.flac (what was said, at the scoring rate), written once per run."""
    from testbed.speech.reference import resample, to_int16

    reference = Path("audio") / f"reference-{name}.flac"
    if not (directory / reference).exists():
        said = to_int16(resample(samples / 32768, rate, scored_rate))
        _write_flac(directory / reference, said, scored_rate)
    return reference


@functools.lru_cache(maxsize=2)
def _traces(path: Path) -> dict:
    """A note's traces by key, read once per process (a worker scores many of its directions)."""
    return {t.key: t for t in _read(load_traces, path, "traces")}


def _score_voip(directory: Path, note: dict, stem: str, call: dict, direction: str) -> dict:
    traces = _traces(directory / "traces" / note["traces"])
    media = _read(media_files.load, directory / "traces" / call[direction], "media")
    if f"call{call['call']}-{direction}" not in traces:
        raise InputError.single(f"no trace of call {call['call']} {direction}",
                                str(directory / "traces" / note["traces"]))
    audio = Path("audio") / f"{stem}-call{call['call']}-{direction}.flac"
    entry = score_direction(traces[f"call{call['call']}-{direction}"], media, note["frames"],
                            directory / audio, tuple(note["scores"]))
    said = Path(call[direction]).stem.removeprefix("media-")
    reference = _reference_flac(directory, said, media.reference, media.preset.rate, media.preset.scored_rate)
    entry.update(call=call["call"], direction=direction, audio=str(audio), reference=str(reference))
    return entry


def _score_webrtc(directory: Path, note: dict, stem: str, call: dict, direction: str) -> dict:
    """A callee's recording (what aiortc played of the caller's speech), lined up and scored."""
    from testbed.report.speech import read_audio
    from testbed.speech import recording
    from testbed.speech.presets import PRESETS
    from testbed.speech.reference import resample, speech, to_int16

    said_file = call.get("said")  # notes written before it: a voice, made again
    if call["codec"] not in WEBRTC_PRESET or not (isinstance(said_file, str) or call["source"] in VOICES):
        raise InputError.single(f"call {call['call']}: not a codec ({call['codec']!r}) the webrtc "
                                f"workload sends, or no recording of what was said ({call['source']!r})",
                                note["path"])
    samples, rate = read_audio(directory / "traces" / call["recording"], dtype="int16")
    preset = PRESETS[WEBRTC_PRESET[call["codec"]]]
    scored_rate = preset.scored_rate
    played = np.frombuffer(call["played"].encode(), np.uint8) == ord("p")
    # what the caller looped, at the rate it was recorded
    said, said_rate = read_audio(directory / "traces" / said_file, dtype="int16") \
        if isinstance(said_file, str) else (speech(call["source"], rate), rate)
    if said_rate != rate:
        raise InputError.single(f"call {call['call']}: what was said ({said_rate} Hz) and what was heard "
                                f"({rate} Hz) differ in rate", note["path"])
    found = recording.assess(samples, played, said, rate, rate // 50, scored_rate,  # 20 ms frames
                             tuple(note["scores"]))
    audio = Path("audio") / f"{stem}-call{call['call']}-uplink.flac"
    _write_flac(directory / audio, to_int16(resample(samples / 32768, rate, scored_rate)), scored_rate)
    # what was said over the same time as the recording (the caller's loop from where it started)
    reference = audio.with_name(f"{stem}-call{call['call']}-said.flac")
    said_there = to_int16(resample(found.reference / 32768, rate, scored_rate))
    _write_flac(directory / reference, said_there, scored_rate)
    return {"source": _label(call["source"]), "codec": call["codec"], "rate": scored_rate,
            "frame_ms": preset.frame_ms, "frames": int(played.size),
            "counts": {"played": int(played.sum()), "lost": int((~played).sum())},
            "fates": call["played"], "heard": found.heard, "silent": found.silent,
            "scores": found.scores, "windows": found.windows, "call": call["call"],
            "direction": "uplink", "audio": str(audio), "reference": str(reference),
            "start": found.start, "stack": "aiortc"}


SCORERS = {"voip": _score_voip, "webrtc": _score_webrtc}
DIRECTIONS = {"voip": ("uplink", "downlink"), "webrtc": ("uplink",)}  # the call directions scored
WEBRTC_PRESET = {"pcmu": "g711-noplc", "opus": "opus-webrtc"}  # aiortc has no loss concealment
POOL_FROM = 3  # call directions: below that, starting the workers (imports, models) costs more than it saves
# the scores worth a pool: with pesq, stoi and plcmos alone a direction scores in about 0.5 s,
# as long as a worker takes to start (8 directions of 20 s: 6.3 s in one process, 6.8 s with
# two workers); ViSQOL and DNSMOS take about 3 s a direction (all five: 31.1 s against 23.6 s)
POOL_SCORES = frozenset({"visqol", "dnsmos"})


def _score_job(directory: Path, note: dict, stem: str, call: dict, direction: str) -> dict:
    return SCORERS[note["kind"]](directory, note, stem, call, direction)


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C goes to the whole terminal's group; the parent stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


Submit = Callable[..., Callable[[], dict]]  # (job, *args) -> what waits for its result


@contextlib.contextmanager
def _submitter(jobs: int, heavy: bool) -> Iterator[Submit]:
    """Jobs run by a pool with one worker per core this process may use (spawned: no threads
    of the models' inherited), or here, when asked for: for a few jobs, light ones (not
    `heavy`: POOL_SCORES) or on one core. The workers are stopped at once on any exception (a
    job may take seconds)."""
    workers = min(jobs, len(os.sched_getaffinity(0)))
    if jobs < POOL_FROM or workers < 2 or not heavy:
        yield lambda job, *args: functools.partial(job, *args)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupts)
    try:
        yield lambda job, *args: pool.submit(job, *args).result
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()
        raise
    pool.shutdown()


def score_pending(directory: Path, rows: list[dict], progress: Progress = lambda _: None,
                  persist: Callable[[list[dict]], None] = lambda _: None,
                  scores: tuple[str, ...] | None = None) -> int:
    """Score every pending note in `directory`, updating `rows` in place; how many directions.
    `persist` saves the rows after each note, before the note is removed: scoring stopped
    part-way loses nothing, and `testbed score` goes on with the notes left. `scores`: these
    instead of those each note asks for."""
    ran = {(r.get("repetition"), r.get("phase")): k for k, r in reversed(list(enumerate(rows)))}
    notes = {path: {**_note(path), "path": str(path)} for path in pending(directory)}
    if scores is not None:
        for note in notes.values():
            note["scores"] = list(scores)

    def ran_at(path: Path) -> tuple[int, str]:
        return ran.get((notes[path]["repetition"], notes[path]["phase"]), len(ran)), path.name

    order = sorted(notes, key=ran_at)  # in the order the phases ran
    jobs = [(path, call, direction) for path in order for call in notes[path]["calls"]
            for direction in DIRECTIONS[notes[path]["kind"]]]
    entries = speech_entries(directory)
    done = 0
    try:
        heavy = any(POOL_SCORES & set(note["scores"]) for note in notes.values())
        with _submitter(len(jobs), heavy) as submit:
            results = {(path, call["call"], direction): submit(
                _score_job, directory, notes[path], path.name.removesuffix(PENDING), call, direction)
                for path, call, direction in jobs}
            for note_path in order:
                note = notes[note_path]
                scored = []
                for call in note["calls"]:
                    for direction in DIRECTIONS[note["kind"]]:
                        scored.append(results[(note_path, call["call"], direction)]())
                        done += 1
                        progress(f"  scoring speech {done}/{len(jobs)}: {note['phase']} {note['workload']} "
                                 f"call {call['call']} {direction}")
                for entry in scored:  # the scores not asked for are left out, not NaN
                    entry.update(repetition=note["repetition"], phase=note["phase"],
                                 workload=note["workload"],
                                 scores={k: v for k, v in entry["scores"].items() if k in note["scores"]})
                keys = {_key(e) for e in scored}
                entries = [e for e in entries if _key(e) not in keys] + scored
                _update_row(rows, note, scored)
                _save_speech_json(directory, entries)
                persist(rows)
                note_path.unlink()
    finally:
        _traces.cache_clear()
    return done


def _read(reader: Callable, path: Path, what: str):
    """A results file read by `reader`, or exit 2 naming it (missing, truncated, another format)."""
    try:
        return reader(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError.single(f"cannot read the call's {what}: {exc}", str(path)) from None


def _key(entry: dict) -> tuple:
    return tuple(entry.get(k) for k in ("repetition", "phase", "workload", "call", "direction"))


def _update_row(rows: list[dict], note: dict, scored: list[dict]) -> None:
    for row in rows:
        if (row.get("repetition"), row.get("phase"), row.get("workload")) == (
                note["repetition"], note["phase"], note["workload"]) and "error" not in row:
            row.update({k: v for k, v in mean_scores(scored).items() if k == "heard" or k in note["scores"]})
