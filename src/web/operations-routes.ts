import type { FastifyInstance } from 'fastify';
import type { RequestAuthentication } from '../identity/index.ts';
import type { Database } from '../storage/index.ts';
import { assertCanReadMetrics, carriesMetricsToken, type Metrics } from '../metrics.ts';

export interface OperationsRoutesOptions {
  database: Database;
  metrics: Metrics;
  auth: RequestAuthentication;
  /** The bearer token Prometheus scrapes with; unset, only admins read /metrics. */
  metricsToken: string | undefined;
}

/** Liveness, readiness (the database answers) and Prometheus metrics. */
export async function registerOperationsRoutes(app: FastifyInstance, options: OperationsRoutesOptions): Promise<void> {
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

  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics (bearer METRICS_TOKEN, or an admin)' } },
    async (request, reply) => {
      if (!carriesMetricsToken(request.headers.authorization, options.metricsToken)) assertCanReadMetrics(await options.auth.requireActor(request));
      return reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
    },
  );
}
