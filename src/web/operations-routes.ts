import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
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

const Health = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Object({
  status: Type.Enum(['ready', 'unavailable']),
  database: Type.String({ description: 'sqlite or postgres' }),
});
const MetricsText = Type.String({ description: 'Prometheus text exposition format' });
const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }) });

/** Liveness, readiness (the database answers) and Prometheus metrics. */
export const registerOperationsRoutes: FastifyPluginAsyncTypebox<OperationsRoutesOptions> = async (app, options) => {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is up', response: { 200: Health } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'The database answers', response: { 200: Readiness, 503: Readiness } } },
    async (request, reply) => {
      try {
        await options.database.ping();
        return { status: 'ready' as const, database: options.database.dialect };
      } catch (error) {
        request.log.warn({ err: error }, 'database not reachable');
        return reply.code(503).send({ status: 'unavailable' as const, database: options.database.dialect });
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (bearer METRICS_TOKEN, or an admin)',
        response: { 200: MetricsText, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      if (!carriesMetricsToken(request.headers.authorization, options.metricsToken))
        assertCanReadMetrics(await options.auth.requireActor(request));
      return reply.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
    },
  );
};
