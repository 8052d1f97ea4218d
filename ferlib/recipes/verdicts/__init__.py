"""The sentences that interpret a run's results, made from its numbers.

A results page or a chapter that says "the CNN overfits" must say it because the run's
numbers show it, and say something else when they do not. Each function here takes the
numbers and returns one sentence; the notebooks glue the sentences for the chapters, so a
smoke run and a full run never print the same claim when their numbers disagree with it.
"""

from ._shared import LEARNED_MARGIN, OVERFIT_GAP, TUNING_MARGIN, points, too_small
from .beyond import (activation_verdict, attention_verdict, class_weight_verdict, cluster_verdict, dispute_verdict,
                     ferplus_verdict, tta_verdict)
from .closing_gap import ablation_verdict, best_goal_verdict, ensemble_verdict, gap_verdict, per_class_verdict
from .reproduction import (FLAG, comparison_verdicts, difference_verdict, difference_verdicts, fit_story, fit_verdict,
                           hard_sample_verdict, phase2_verdict, precision_verdict, ranking_verdict, reading_verdict,
                           release_of, release_sentence, schedule_verdict, tuning_learned, tuning_verdict)
from .vit_question import NOT_MEASURED, QuestionVerdict, map_border_verdict, vit_question_verdict

__all__ = ["FLAG", "LEARNED_MARGIN", "NOT_MEASURED", "OVERFIT_GAP", "TUNING_MARGIN", "QuestionVerdict", "map_border_verdict",
           "activation_verdict", "attention_verdict", "class_weight_verdict", "cluster_verdict", "comparison_verdicts",
           "difference_verdict", "difference_verdicts", "dispute_verdict", "ferplus_verdict", "fit_story", "fit_verdict",
           "best_goal_verdict", "ensemble_verdict", "gap_verdict", "hard_sample_verdict", "per_class_verdict", "phase2_verdict", "points", "precision_verdict",
           "ranking_verdict", "reading_verdict", "release_of", "release_sentence", "schedule_verdict", "too_small",
           "tta_verdict", "tuning_learned", "tuning_verdict", "vit_question_verdict"]
