"""Per-class precision, recall and F1 of a phase map against ground truth."""

from __future__ import annotations

import numpy as np

from stemtf.errors import InputError
from stemtf.phase.model import LABEL_NAMES

__all__ = ["phase_metrics", "format_metrics"]


def phase_metrics(pred: np.ndarray, truth: np.ndarray, *, n_classes: int = 5) -> dict:
    """Compare label maps (same shape, codes 0..n_classes-1).

    Returns
    -------
    dict
        ``classes`` (name -> precision, recall, f1, support), ``macro_f1`` (mean F1 over the
        classes present in the truth or the prediction), ``accuracy``, ``confusion``
        (rows truth, columns prediction) and ``n``.
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise InputError(f"labels of shape {p.shape} do not match the truth's {t.shape}")
    p = p.astype(np.int64).ravel()
    t = t.astype(np.int64).ravel()
    for name, a in (("predicted", p), ("truth", t)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise InputError(
                f"{name} labels must be 0..{n_classes - 1}, found {a.min()}..{a.max()}"
            )
    conf = np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    tp = np.diag(conf).astype(float)
    pred_n = conf.sum(axis=0).astype(float)
    true_n = conf.sum(axis=1).astype(float)
    prec = np.divide(tp, pred_n, out=np.zeros(n_classes), where=pred_n > 0)
    rec = np.divide(tp, true_n, out=np.zeros(n_classes), where=true_n > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(n_classes), where=(prec + rec) > 0)
    present = (pred_n > 0) | (true_n > 0)
    names = list(LABEL_NAMES) + [str(i) for i in range(len(LABEL_NAMES), n_classes)]
    return {
        "classes": {
            names[i]: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(true_n[i]),
            }
            for i in range(n_classes)
        },
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": float(tp.sum() / max(t.size, 1)),
        "confusion": conf.tolist(),
        "n": int(t.size),
    }


def format_metrics(m: dict) -> str:
    """Text table of :func:`phase_metrics`."""
    lines = [f"{'class':<8}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name, c in m["classes"].items():
        lines.append(
            f"{name:<8}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}"
            f"{c['support']:>10d}"
        )
    lines.append(f"macro-F1 {m['macro_f1']:.4f}   accuracy {m['accuracy']:.4f}   n {m['n']}")
    return "\n".join(lines)
