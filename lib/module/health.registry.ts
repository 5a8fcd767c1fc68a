import { Injectable } from '@nestjs/common';

/** Adds fields to `GET /health`: called on every request, so keep it cheap. */
export type HealthContributor = () => Record<string, unknown>;

/**
 * What `GET /health` reports beyond the module's own fields: the messaging
 * interfaces add `interfaces` here, and an app's own providers can add theirs
 * (`health.contribute(() => ({ queue: queue.size }))`). It keeps the HTTP layer
 * free of the parts that report.
 */
@Injectable()
export class HealthRegistry {
  private readonly contributors: HealthContributor[] = [];

  /** Adds a contributor; returns a function that removes it. */
  contribute(contributor: HealthContributor): () => void {
    this.contributors.push(contributor);
    return () => {
      const index = this.contributors.indexOf(contributor);
      if (index >= 0) this.contributors.splice(index, 1);
    };
  }

  /** Every contributor's fields, merged in the order they were added. */
  fields(): Record<string, unknown> {
    return Object.assign({}, ...this.contributors.map((contributor) => contributor()));
  }
}
