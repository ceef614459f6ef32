import type { FastifyInstance } from 'fastify';
import type { Database } from '../storage/index.ts';
import type { Metrics } from '../metrics.ts';

/** Liveness, readiness (the database answers) and Prometheus metrics. */
export async function registerOperationsRoutes(app: FastifyInstance, options: { database: Database; metrics: Metrics }): Promise<void> {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['operations'], summary: 'The database answers' } }, async (request, reply) => {
    try {
      await options.database.ping();
      return { status: 'ready', database: options.database.dialect };
    } catch (error) {
      request.log.warn({ err: error }, 'database not reachable');
      return reply.code(503).send({ status: 'unavailable', database: options.database.dialect });
    }
  });

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics()),
  );
}
