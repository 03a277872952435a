"""Evaluation: datasets, metrics, running a detector or baseline, CI gates and reports."""

from safewatch.evals.datasets import (
    LABEL_CATEGORIES,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    EvalRow,
    load_dataset,
    read_rows,
    resolve_dataset,
    select,
)
from safewatch.evals.gates import Gate, GateError, GateOutcome, check_gates
from safewatch.evals.report import write_report
from safewatch.evals.results import EvalResult, Prediction
from safewatch.evals.runner import evaluate, evaluate_scorer

__all__ = [
    "LABEL_CATEGORIES", "DatasetError", "DatasetFormatError", "DatasetNotFoundError", "EvalResult", "EvalRow",
    "Gate", "GateError", "GateOutcome", "Prediction", "check_gates", "evaluate", "evaluate_scorer",
    "load_dataset", "read_rows", "resolve_dataset", "select", "write_report",
]
