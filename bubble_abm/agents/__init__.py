"""The five agent types (DESIGN §4), one module each."""

from bubble_abm.agents.app_company import AppCompany, AppPopulation
from bubble_abm.agents.chipmaker import Chipmaker
from bubble_abm.agents.hyperscaler import Hyperscaler
from bubble_abm.agents.investor import Investor, InvestorPopulation
from bubble_abm.agents.model_lab import ModelLab

__all__ = ["AppCompany", "AppPopulation", "Chipmaker", "Hyperscaler", "Investor",
           "InvestorPopulation", "ModelLab"]
