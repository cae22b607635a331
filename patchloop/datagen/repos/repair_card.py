"""The repair dataset's data card (Markdown, for people) and its HumanEval overlap figure.

The card is what someone about to train on the rows reads: which packages are in which split
and how many rows each gave, which prompt they show, what command and fingerprint made them,
which instances were bad and why, whether rows point at paths on the machine that made them,
and the decontamination checks (held-out packages by name and by function source, HumanEval).
"""

from __future__ import annotations

from pathlib import Path


def humaneval_overlap(rows: list[dict]) -> dict:
    """How close the rows' prompts come to HumanEval, with the project's decontamination code
    (``filters.decontam``): rows it would remove, and rows sharing any n-gram."""
    from patchloop.datagen.filters.decontam import Decontaminator, humaneval

    texts = [{"instance_id": r.get("instance_id"), "prompt": r["prompt"][-1]["content"]} for r in rows]
    res = Decontaminator([humaneval()]).run(texts)
    return {"rows": len(rows), "contaminated": len(res.removed), "touching": res.touching.get("humaneval", 0),
            "items": res.removed[:20]}


def markdown(rec: dict) -> str:
    splits = list(rec["counts"])
    packages = sorted({p for c in rec["counts"].values() for p in c})
    out = ["# Data card: repair rows", "",
           f"Rows: **{sum(sum(c.values()) for c in rec['counts'].values())}**  ",
           f"Fingerprint: `{rec['fingerprint']}`  ", f"Prompt template: `{rec['prompt_version']}`  ",
           f"Command: `{rec.get('command') or 'not recorded'}`", "",
           "## Rows per package and split", "",
           "| package | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    out += [f"| {p} | " + " | ".join(str(rec["counts"][s].get(p, 0)) for s in splits) + " |" for p in packages]
    out += ["| **all** | " + " | ".join(str(sum(rec["counts"][s].values())) for s in splits) + " |", ""]
    out += ["## Settings and inputs", "",
            *(f"- {k}: `{rec[k]}`" for k in ("seed", "heldout_packages", "validation_fraction", "test_output",
                                              "focus_tokens", "timeout_s")),
            *(f"- input `{i['spec']}`: sha256 `{i['sha256'][:16]}`" for i in rec["inputs_named"]), ""]
    bad = rec["bad_instances"]
    out += ["## Bad instances", "", f"{len(bad)} skipped" + (":" if bad else "."), *(f"- {b}" for b in bad), ""]
    local = rec["local_paths"]
    out += ["## Where rows find their repositories", "",
            f"{len(local)} rows point at local paths (their `instance` needs the path to check the repository "
            "out; paths in the project resolve against any checkout of it):" if local else
            "Every row names its repository by URL: no row depends on a path of the machine that made it.",
            *(f"- {i}: {w}" for i, w in sorted(local.items())), ""]
    ch = rec["checks"]
    he, src = ch["humaneval"], ch["by_source"]
    out += ["## Decontamination", "",
            f"- held-out packages: {', '.join(ch['heldout']) or 'none'}; none of their names in train/validation",
            f"- function source: {src['heldout_functions']} normalised held-out target functions, "
            f"{src['in_training']} shown by a train/validation row",
            f"- HumanEval: {he['contaminated']} of {he['rows']} rows contaminated, {he['touching']} share an n-gram",
            "- held-out packages the project names (README, docs, built-in instances): " +
            ("; ".join(f"{p} in {', '.join(w)}" for p, w in ch.get("named_by_project", {}).items()) or "none")]
    return "\n".join(out) + "\n"


def write_card(path: str | Path, rec: dict) -> None:
    """``card.md`` written atomically (a temp file renamed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(markdown(rec), encoding="utf-8")
    tmp.replace(path)
