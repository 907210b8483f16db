import { checkV1ApiVersion, datedApiVersion } from '../gateway/azure-api-version.js';
import { chatCompletions } from '../gateway/chat-completions.js';
import { embeddings } from '../gateway/embeddings.js';
import type { GatewayDeps } from '../gateway/gateway-deps.js';
import { liveness, readiness } from '../gateway/health.js';
import { listModels, retrieveModel } from '../gateway/list-models.js';
import { manage } from '../gateway/manage.js';
import { scheduledSafetySelfTest } from '../gateway/manage-safety.js';
import { readDeploymentPrices } from '../gateway/manage-prices.js';
import { deleteRouteShift, putRouteShift } from '../gateway/manage-route-shift.js';
import { readRouteShadow } from '../gateway/manage-shadow.js';
import { createResponse, deleteResponse, retrieveResponse } from '../gateway/responses.js';
import { usageReport } from '../gateway/usage-api.js';
import { budgetStatus } from '../gateway/budget-status.js';
import { closeManagedHours } from '../gateway/close-managed-hours.js';
import { teamStatement } from '../gateway/statements.js';
import { usageAdvice } from '../gateway/advice.js';
import { reconcileLedger } from '../gateway/reconcile.js';
import { reconcileAzure } from '../gateway/reconcile-azure.js';
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.js';
import { handle, type RequestContext, type UseCase } from '../http/handle.js';
import { createLogger, type Logger } from '../log.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { services } from './services.js';
import { startupFailure } from './startup-failure.js';

type Operation = (request: GatewayRequest, deps: GatewayDeps, context: RequestContext) => Promise<GatewayResponse> | GatewayResponse;

const startupLog = createLogger();

const manageOperations = { ...manage, putRouteShift, deleteRouteShift, readRouteShadow, readDeploymentPrices };

function bind(operation: Operation): (request: GatewayRequest) => Promise<GatewayResponse> {
  return async (request) => {
    let log: Logger = startupLog;
    const useCase: UseCase = async (req, context) => {
      const { deps } = await services().catch((error: unknown) => {
        throw startupFailure(error);
      });
      log = deps.log;
      return operation(req, deps, context);
    };
    return handle(request, useCase, { log: { log: (...entry) => log.log(...entry) }, newRequestId: randomUUID, now: Date.now });
  };
}

/** What each function registration calls: one use case, with services, request id and error mapping. */
export const gateway = {
  listModels: bind((req, deps) => listModels(req, deps)),
  retrieveModel: bind((req, deps) => retrieveModel(req, deps)),
  chatCompletions: bind((req, deps, context) => chatCompletions(req, deps, context)),
  embeddings: bind((req, deps, context) => embeddings(req, deps, context)),
  azureChatCompletions: bind((req, deps, context) => chatCompletions(req, deps, { ...context, ...azureDeploymentPath(req) })),
  azureEmbeddings: bind((req, deps, context) => embeddings(req, deps, { ...context, ...azureDeploymentPath(req) })),
  azureListModels: bind(datedSurface((req, deps) => listModels(req, deps))),
  azureRetrieveModel: bind(datedSurface((req, deps) => retrieveModel(req, deps))),
  v1ChatCompletions: bind(v1Surface((req, deps, context) => chatCompletions(req, deps, context))),
  v1Embeddings: bind(v1Surface((req, deps, context) => embeddings(req, deps, context))),
  v1ListModels: bind(v1Surface((req, deps) => listModels(req, deps))),
  v1RetrieveModel: bind(v1Surface((req, deps) => retrieveModel(req, deps))),
  createResponse: bind((req, deps, context) => createResponse(req, deps, context)),
  v1CreateResponse: bind(v1Surface((req, deps, context) => createResponse(req, deps, context))),
  retrieveResponse: bind((req, deps) => retrieveResponse(req, deps)),
  deleteResponse: bind((req, deps) => deleteResponse(req, deps)),
  v1RetrieveResponse: bind(v1Surface((req, deps) => retrieveResponse(req, deps))),
  v1DeleteResponse: bind(v1Surface((req, deps) => deleteResponse(req, deps))),
  usage: bind((req, deps) => usageReport(req, deps)),
  usageBudgets: bind((req, deps) => budgetStatus(req, deps)),
  usageStatement: bind((req, deps) => teamStatement(req, deps)),
  usageAdvice: bind((req, deps) => usageAdvice(req, deps)),
  usageReconcile: bind((req, deps) => reconcileLedger(req, deps)),
  usageReconcileAzure: bind((req, deps) => reconcileAzure(req, deps)),
  readiness: bind((_req, deps) => readiness(deps)),
  liveness: async (): Promise<GatewayResponse> => liveness(),
  /** The hourly timer: allocates managed compute to the teams that used it (a failure is retried next hour). */
  allocateManagedCompute: async (): Promise<void> => {
    const { deps } = await services();
    const result = await closeManagedHours(deps);
    deps.log.log('info', 'managed compute allocated', { ...result });
  },
  /** The hourly timer: canaries through every team's safety layers; the report is audited and shown by /health/ready. */
  safetySelfTest: async (): Promise<void> => {
    const { deps } = await services();
    await scheduledSafetySelfTest(deps);
  },
  notFound: bind((req) => {
    throw errors.notFound(`The path ${req.method} ${new URL(req.url).pathname}`);
  }),
  manage: Object.fromEntries(
    Object.entries(manageOperations).map(([name, operation]) => [name, bind((req, deps) => operation(req, deps))]),
  ) as {
    [K in keyof typeof manageOperations]: (request: GatewayRequest) => Promise<GatewayResponse>;
  },
};

// Azure OpenAI clients always send api-version on deployment paths; it is checked here, before the body is read,
// and forwarded to upstreams whose protocol takes one.
function azureDeploymentPath(request: GatewayRequest): { aliasFromPath: string; apiVersion: string } {
  return { apiVersion: datedApiVersion(request, { required: true })!, aliasFromPath: request.params.alias! };
}

// Listings forward nothing upstream, so their api-version may be left out; one that is sent must still be known.
function datedSurface(operation: Operation): Operation {
  return (request, deps, context) => {
    datedApiVersion(request, { required: false });
    return operation(request, deps, context);
  };
}

// Azure OpenAI's v1 surface (`/openai/v1/…`): `model` names the alias, and there is no dated api-version to forward.
function v1Surface(operation: Operation): Operation {
  return (request, deps, context) => {
    checkV1ApiVersion(request);
    return operation(request, deps, context);
  };
}
