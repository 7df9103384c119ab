"""A batch's chart as numbers: its answers over time, how confident the crowd is on its finished products,
and each worker's accuracy on its gold. The edge draws them (handlers.chart)."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot.batches import lifecycle as batches
from bot.batches import results
from bot.batches.lifecycle import BatchFacts
from bot.batches.task import BatchTask, task_of
from bot.wiring.services import Services


@dataclass(frozen=True)
class WorkerAccuracy:
    worker: str  # the pseudonym the batch's answers file gives them ("worker 3")
    graded: int  # gold answers, quiz and checks, one per question with gold
    right: int

    @property
    def accuracy(self) -> float:
        return self.right / self.graded


@dataclass(frozen=True)
class ChartData:
    batch_id: int
    name: str
    answers: int  # every answer given, on products and on gold
    answered_at: tuple[datetime, ...]  # the answers on products that count (as /batches counts them), oldest first
    answers_needed: int  # what the batch needs in all (as /batches counts it)
    # The crowd's confidence in each label of each finished product: one per product on a one-question type.
    confidences: tuple[float, ...]
    workers: tuple[WorkerAccuracy, ...]  # those with gold answers, in the order of the answers file
    min_accuracy: float  # the batch's setting: a worker provably below it is removed


async def batch_chart(services: Services, batch_id: int, requester_id: int) -> ChartData:
    """📈 Chart: the requester's batch's figures (a batch of someone else's is refused, as every batch
    button refuses it). Aggregating a big batch takes seconds, so that part runs in a worker thread."""
    async with services.db.read() as session:
        batch = await batches.owned(session, batch_id, requester_id)
        facts = batches.facts_of(batch)
        task = await task_of(facts, services.taxonomies, session)
        rows = await results.read(session, batch.id)
        needed = (await batches.progress(session, batch, services.clock.now())).answers_needed
    return await asyncio.to_thread(_chart_data, facts, task, rows, needed)


def _chart_data(facts: BatchFacts, task: BatchTask, rows: results.BatchRows, needed: int) -> ChartData:
    counted = sorted(answer.answered_at for answer in results.accepted(rows) if not answer.is_gold)
    labels = results.item_labels(task, rows)
    # Finished: no more answers are coming, because it has its overlap, the stop rule found the crowd
    # confident enough sooner, or the batch was cancelled. A product still collecting answers is left out.
    finished = [
        item.external_id for item in rows.items if not item.is_gold and (item.settled or item.answers >= facts.overlap)
    ]
    return ChartData(
        batch_id=facts.id,
        name=facts.name,
        answers=len(rows.answered),
        answered_at=tuple(counted),
        answers_needed=needed,
        confidences=tuple(label.confidence for item in finished for label in labels[item].values()),
        workers=tuple(
            WorkerAccuracy(worker.pseudonym, worker.graded, worker.right)
            for worker in results.workers(rows.answered).values()
            if worker.graded
        ),
        min_accuracy=facts.min_accuracy,
    )
