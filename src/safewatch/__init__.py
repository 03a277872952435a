"""safewatch: a self-hosted safety layer for LLM applications."""

from safewatch.detector import Detector
from safewatch.policy import Policy, load_policy
from safewatch.verdict import Action, ContextSignals, Match, Verdict

__version__ = "0.1.0"
__all__ = ["Action", "ContextSignals", "Detector", "Match", "Policy", "Verdict", "load_policy", "__version__"]
