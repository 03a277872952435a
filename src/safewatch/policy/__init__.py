from safewatch.policy.loader import PolicyError, default_policy_data, load_policy, merge
from safewatch.policy.model import CategoryPolicy, ComboRule, CrisisLocale, Policy, RegexRule, Rules

__all__ = [
    "CategoryPolicy", "ComboRule", "CrisisLocale", "Policy", "PolicyError", "RegexRule", "Rules",
    "default_policy_data", "load_policy", "merge",
]
