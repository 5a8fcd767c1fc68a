import { Injectable } from '@nestjs/common';

/** Adds fields to `GET /health`: called on every request, so keep it cheap. */
export type HealthContributor = () => Record<string, unknown>;

/**
 * What `GET /health` reports beyond the module's own fields: the messaging
 * interfaces add `interfaces` here, and an app's own providers can add theirs
 * (`health.contribute(() => ({ queue: queue.size }))`). It keeps the HTTP layer
 * free of the parts that report.
 */
/** A readiness check of {@link HealthRegistry.readiness}: the names of what does not answer. */
export type ReadinessCheck = () => Promise<string[]>;

@Injectable()
export class HealthRegistry {
  private readonly contributors: HealthContributor[] = [];
  private readonly checks: ReadinessCheck[] = [];

  /** Adds a contributor; returns a function that removes it. */
  contribute(contributor: HealthContributor): () => void {
    this.contributors.push(contributor);
    return () => {
      const index = this.contributors.indexOf(contributor);
      if (index >= 0) this.contributors.splice(index, 1);
    };
  }

  /** Every contributor's fields, merged in the order they were added. */
  /**
   * Adds a readiness check: it resolves the names of what does not answer
   * (empty when all is well); `/health/ready` is 503 while any check names
   * something. Returns a function that removes it.
   */
  readiness(check: ReadinessCheck): () => void {
    this.checks.push(check);
    return () => {
      const index = this.checks.indexOf(check);
      if (index >= 0) this.checks.splice(index, 1);
    };
  }

  /** What the readiness checks find unreachable now (a check that throws counts as its own failure). */
  async unreachable(): Promise<string[]> {
    const found = await Promise.all(this.checks.map((check) => check().catch(() => ['readiness check'])));
    return found.flat();
  }

  fields(): Record<string, unknown> {
    return Object.assign({}, ...this.contributors.map((contributor) => contributor()));
  }
}
