"""A batch's kind of job: its task type and the context the type reads (settings and taxonomy)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.batches.lifecycle import BatchFacts
from bot.tasks import registry
from bot.tasks.base import Described, ItemGrade, Question, TaskContext, TaskType
from bot.taxonomies import LoadedTaxonomy, TaxonomyCache


@dataclass(frozen=True)
class BatchTask:
    type: TaskType
    context: TaskContext
    taxonomy: LoadedTaxonomy  # for typed search in a tree question

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.type.questions(self.context)

    def question(self, key: str) -> Question | None:
        return next((question for question in self.questions if question.key == key), None)

    def grade(self, answer: dict[str, str], gold: dict[str, str]) -> ItemGrade | None:
        """An answer against a gold item's labels, question by question: each question both answered and
        with gold is one gold answer. A question the answer never reached is not graded: what ended the card
        early (a Yes where the gold corrects the category, "photo does not load") is the one mistake, counted
        once. None when no answered question has gold."""
        grades = {
            question.key: self.type.grade(question, answer[question.key], gold[question.key], self.context)
            for question in self.questions
            if question.key in gold and question.key in answer
        }
        if not grades:
            return None
        wrong = tuple(key for key, grade in grades.items() if not grade.correct)
        distance = next((grade.distance for grade in grades.values() if grade.distance is not None), None)
        return ItemGrade(len(grades), len(grades) - len(wrong), distance, wrong)

    def describe(self, labels: dict[str, str]) -> Described:
        """Each label as a person reads it, with its question, in the type's order of questions."""
        return tuple(
            (question.prompt or question.key, self.type.describe(question, labels[question.key], self.context))
            for question in self.questions
            if question.key in labels
        )


async def task_of(batch: BatchFacts, taxonomies: TaxonomyCache, session: AsyncSession | None = None) -> BatchTask:
    loaded = await taxonomies.get(batch.taxonomy_id, session)
    task_type = registry.TYPES[batch.task_type]
    return BatchTask(
        task_type, TaskContext(batch.task_config, loaded.tree, batch.root_node_id, batch.leaf_only), loaded
    )
