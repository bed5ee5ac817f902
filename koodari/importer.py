"""Importing transcripts into a study: parse, segment, and write everything in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from koodari.errors import KoodariError
from koodari.segment import Unit, segment_transcript
from koodari.store import Study
from koodari.transcripts import THEME_RE, Transcript, max_units, read_transcript

FOLDER_SUFFIXES = (".txt", ".docx", ".vtt", ".srt")


@dataclass
class ImportSummary:
    documents: int = 0
    segments: int = 0
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"documents": self.documents, "segments": self.segments}


def import_transcripts(study: Study, paths: list[Path], question: str | None = None) -> ImportSummary:
    """Import transcript files. All files are read and parsed first; any error leaves the study unchanged.

    A file whose sha256 is already in the study is skipped (re-import is a no-op). A document with more
    units than ``KOODARI_MAX_UNITS`` is refused before anything is written.
    """
    most = max_units()
    parsed: list[tuple[Path, Transcript, str, list[Unit]]] = []
    seen: set[str] = set()
    summary = ImportSummary()
    for path in paths:
        transcript, raw = read_transcript(path)
        sha = hashlib.sha256(raw).hexdigest()
        if sha in seen or study.document_by_sha(sha) is not None:
            summary.skipped.append(str(path))
            continue
        seen.add(sha)
        units = segment_transcript(transcript)
        if len(units) > most:
            raise KoodariError(f"{len(units)} analysis units, over the limit of {most} units per document"
                               " (set KOODARI_MAX_UNITS to raise it)", path)
        parsed.append((path, transcript, sha, units))
    fixed_question = study.question_for(question) if question else None
    with study.transaction():
        for path, transcript, sha, units in parsed:
            store_transcript(study, path, transcript, sha, units, fixed_question)
            summary.documents += 1
            summary.segments += len(units)
    return summary


def store_transcript(study: Study, path: Path, transcript: Transcript, sha: str, units: list[Unit],
                     fixed_question: int | None) -> None:
    """Write one parsed transcript, its units and the import log entry (one transaction)."""
    with study.transaction():
        document_id = study.add_document(path.name, sha, transcript.text, transcript.format, transcript.encoding)
        for seq, unit in enumerate(units):
            study.add_segment(
                document_id,
                seq,
                speaker=unit.speaker,
                is_interviewer=int(unit.is_interviewer),
                theme=unit.theme,
                question_id=fixed_question if fixed_question is not None else theme_question(study, unit.theme),
                char_start=unit.start,
                char_end=unit.end,
                text=unit.text,
                time_start=unit.time_start,
                time_end=unit.time_end,
                turn=unit.turn,
            )
        study.log_import(str(path), sha, "transcript", {"segments": len(units)})


@dataclass
class FolderImportSummary(ImportSummary):
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    ignored: list[str] = field(default_factory=list)  # files of other types in the folders

    def as_dict(self) -> dict:
        return {**super().as_dict(), "already_imported": len(self.skipped), "ignored": len(self.ignored),
                "refused": [{"file": f, "reason": r} for f, r in self.refused]}


def transcript_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files to import: the given files, and the transcripts (.txt .docx .vtt .srt) anywhere under the given
    folders, in name order; returns them and the other (not hidden) files found in the folders."""
    files: list[Path] = []
    ignored: list[str] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        for found in sorted(path.rglob("*")):
            if not found.is_file() or any(part.startswith(".") for part in found.relative_to(path).parts):
                continue
            if found.suffix.lower() in FOLDER_SUFFIXES:
                files.append(found)
            else:
                ignored.append(str(found))
    return files, ignored


def import_each(study: Study, paths: list[Path], question: str | None = None,
                done: Callable[[Path], None] | None = None) -> FolderImportSummary:
    """Import transcripts (folders recursively) one file per transaction: a file that cannot be read or
    parsed is refused with the reason, nothing of it is stored, and the others are imported."""
    files, ignored = transcript_files(paths)
    summary = FolderImportSummary(ignored=ignored)
    fixed_question = study.question_for(question) if question else None
    for path in files:
        try:
            transcript, raw = read_transcript(path)
            sha = hashlib.sha256(raw).hexdigest()
            if study.document_by_sha(sha) is not None:
                summary.skipped.append(str(path))
            else:
                units = segment_transcript(transcript)
                store_transcript(study, path, transcript, sha, units, fixed_question)
                summary.documents += 1
                summary.segments += len(units)
        except KoodariError as exc:
            summary.refused.append((str(path), exc.message))
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others; the reason is reported
            summary.refused.append((str(path), f"cannot import ({type(exc).__name__}: {exc})"[:300]))
        if done is not None:
            done(path)
    return summary


def theme_question(study: Study, theme: str | None) -> int | None:
    """The research question a theme line refers to: by its marker (`T4`) or by its text."""
    if not theme:
        return None
    found = study.remembered_theme_question(theme) or study.find_question(theme)
    if found is not None:
        return found
    marker = THEME_RE.match(theme)
    if marker:
        compact = marker.group("marker").replace(" ", "")
        number = "".join(ch for ch in compact if ch.isdigit())
        for key in (compact, f"T{number}", marker.group("rest")):
            found = study.find_question(key)
            if found is not None:
                return found
    return None
