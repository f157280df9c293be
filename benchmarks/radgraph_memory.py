"""Peak memory of reading a big RadGraph JSON: ``json.load`` against the streamed readers.

A synthetic RadGraph file of ``--mb`` megabytes is generated (records shaped like
``MIMIC-CXR_graphs.json``: a report text, 10-30 entities with relations; the words are
synthetic). Each reader then runs in a fresh Python process, which reports its peak
traced allocation (``tracemalloc``) and its peak resident size (``resource``, minus the
process's size before reading):

* ``json.load``: the whole file as dicts (what ``read_radgraph`` did before streaming);
* ``read_radgraph``: streamed, keeping the parsed graphs (a ``RadGraphCollection``);
* ``iter_radgraph``: streamed, one graph at a time (what a consumer that writes as it
  reads needs).

Issue 12 goal: reading a 200 MB file must not cost ~9x the file (``json.load`` took 1.9 GB).

    python benchmarks/radgraph_memory.py [--mb 200] [--out results/radgraph_memory.json]
    python benchmarks/radgraph_memory.py --mb 5 --no-record        # a quick functional run
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402

_WORDS = ("alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega", "zeta", "theta", "lambda",
          "left", "right", "upper", "lower", "small", "mild")
_LABELS = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")
_RELS = ("modify", "located_at", "suggestive_of")

_MEASURE = r"""
import json, resource, sys, tracemalloc
mode, path = sys.argv[1], sys.argv[2]
from graphclr.reports.schema import iter_radgraph, read_radgraph
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
if mode == "json.load":
    with open(path, encoding="utf-8") as fh:
        n = len(json.load(fh))
elif mode == "read_radgraph":
    n = len(read_radgraph(path))
else:
    n = sum(1 for _ in iter_radgraph(path))
peak = tracemalloc.get_traced_memory()[1]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"records": n, "peak_traced_mb": peak / 2**20, "peak_rss_growth_mb": rss / 1024}))
"""


def synthetic_record(rng: random.Random) -> dict:
    n_words = rng.randrange(30, 90)
    words = [rng.choice(_WORDS) for _ in range(n_words)]
    n_ent = rng.randrange(10, 30)
    starts = sorted(rng.sample(range(n_words), n_ent))
    entities = {}
    for k, s in enumerate(starts):
        rels = [[rng.choice(_RELS), str(rng.randrange(1, n_ent + 1))] for _ in range(rng.randrange(0, 3))]
        rels = [r for r in rels if r[1] != str(k + 1)]
        rels = [r for i, r in enumerate(rels) if r not in rels[:i]]
        entities[str(k + 1)] = {"tokens": words[s], "label": rng.choice(_LABELS), "start_ix": s,
                                "end_ix": s, "relations": rels}
    return {"text": " ".join(words), "entities": entities, "data_source": "synthetic",
            "data_split": "inference"}


def write_synthetic(path: Path, megabytes: float, seed: int = 0) -> int:
    """A synthetic RadGraph JSON of about ``megabytes`` MB; returns its record count."""
    rng = random.Random(seed)
    target = int(megabytes * 2**20)
    size = n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("{")
        while size < target:
            chunk = ("," if n else "") + json.dumps(f"p1{n % 10}/p{n:08d}/s{n:08d}.txt") + ": " + \
                json.dumps(synthetic_record(rng))
            fh.write(chunk)
            size += len(chunk)
            n += 1
        fh.write("}")
    return n


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, mode, str(path)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=200.0, help="size of the synthetic file (MB)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-record", action="store_true", help="print only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic_graphs.json"
        n = write_synthetic(path, args.mb)
        file_mb = path.stat().st_size / 2**20
        result = {"synthetic": True, "file_mb": round(file_mb, 1), "records": n, "readers": {}}
        for mode in ("json.load", "read_radgraph", "iter_radgraph"):
            r = measure(mode, path)
            assert r["records"] == n, (mode, r)
            r["peak_traced_x_file"] = round(r["peak_traced_mb"] / file_mb, 2)
            result["readers"][mode] = {k: round(v, 2) if isinstance(v, float) else v
                                       for k, v in r.items()}
            print(f"{mode:14s} peak traced {r['peak_traced_mb']:8.1f} MB "
                  f"({r['peak_traced_x_file']:.2f}x the file), RSS growth "
                  f"{r['peak_rss_growth_mb']:8.1f} MB")
    if not args.no_record:
        print("->", record("radgraph_memory", result, args.out))


if __name__ == "__main__":
    main()
