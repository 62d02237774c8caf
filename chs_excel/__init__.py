"""chs-excel: customer health scoring that lives in Excel."""

from chs_excel.core.engine import Scoring, score, score_accounts
from chs_excel.core.errors import ChsError, InputError, ModelError
from chs_excel.core.model import Metric, Model, Rule, default_model, load_model

__all__ = ["ChsError", "InputError", "Metric", "Model", "ModelError", "Rule", "Scoring",
           "default_model", "load_model", "score", "score_accounts"]
__version__ = "0.1.0"
