"""A batch's kind of job: its task type and the context the type reads (settings and taxonomy)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.batches.lifecycle import BatchFacts
from bot.tasks import registry
from bot.tasks.base import Described, Grade, Question, TaskContext, TaskType
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

    def grade(self, answer: dict[str, str], gold: dict[str, str]) -> Grade | None:
        """An answer against a gold item's labels: right when every question with gold is; the tree
        distance of the first question that has one. None when no answered question has gold."""
        grades = []
        for key, right in gold.items():
            question = self.question(key)
            if question is not None and key in answer:
                grades.append(self.type.grade(question, answer[key], right, self.context))
        if not grades:
            return None
        distance = next((grade.distance for grade in grades if grade.distance is not None), None)
        return Grade(all(grade.correct for grade in grades), distance)

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
