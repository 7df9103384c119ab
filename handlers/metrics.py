"""The bot's Prometheus metrics: counted and timed at the Telegram edge, the backlog read when scraped.

Each Application gets its own registry (several run in one process in tests and benchmarks).
"""

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot import health
from bot.wiring.services import Services

log = logging.getLogger(__name__)
METRICS = "metrics"  # the key of the metrics in bot_data, put there by the composition root
# From a quick SQLite answer to a slow PostgreSQL under load, in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.answers = Counter(
            "crowdshelf_answers", "Answers workers gave (a press or typed words)", registry=self.registry
        )
        self.claim_seconds = Histogram(
            "crowdshelf_claim_seconds",
            "Time to claim and prepare a worker's next task",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "crowdshelf_answer_seconds",
            "Time to record an answer, credit it and claim the next task",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_runs = Counter("crowdshelf_job_runs", "Runs of scheduled jobs", ["job"], registry=self.registry)
        self.open_reservations = Gauge(
            "crowdshelf_open_reservations", "Products shown to a worker and not yet answered", registry=self.registry
        )
        self.payouts_waiting = Gauge(
            "crowdshelf_payouts_waiting", "Payout requests waiting for an admin's decision", registry=self.registry
        )
        self.messages_owed = Gauge(
            "crowdshelf_messages_owed",
            "Messages owed to people (the outbox) and not delivered yet",
            registry=self.registry,
        )
        self.oldest_owed_seconds = Gauge(
            "crowdshelf_oldest_owed_message_seconds",
            "How long the oldest message owed has waited (0: none is owed)",
            registry=self.registry,
        )
        self.messages_given_up = Gauge(
            "crowdshelf_messages_given_up",
            "Owed messages given up, all told: the person blocked the bot, or Telegram refused the message",
            registry=self.registry,
        )
        self.webhook_requests = Counter(
            "crowdshelf_webhook_requests",
            "Telegram's posts to the webhook, by what became of them (handlers.webhook.Outcome)",
            ["outcome"],
            registry=self.registry,
        )

    async def exposition(self, services: Services) -> bytes:
        """The Prometheus text, with the backlog read now (from the database every instance shares)."""
        try:
            backlog = await health.backlog(services)
        except Exception as error:  # the counters are still worth serving
            log.warning("metrics: could not read the backlog: %s", error)
        else:
            self.open_reservations.set(backlog.open_reservations)
            self.payouts_waiting.set(backlog.payouts_waiting)
            self.messages_owed.set(backlog.messages_owed)
            self.oldest_owed_seconds.set(backlog.oldest_owed_seconds)
            self.messages_given_up.set(backlog.messages_given_up)
        return generate_latest(self.registry)
