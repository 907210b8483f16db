import { z } from 'zod';
import { readBody } from '../upstreams/read-body.js';
import type { SendUpstream } from '../upstreams/upstream-port.js';

/** How many instances a managed deployment runs now; undefined when it names no Azure ML deployment to ask. */
export type InstanceCount = (deployment: { billing?: { resourceId: string } }) => Promise<number | undefined>;

/** An Azure ML managed online deployment's resource id: …/workspaces/{ws}/onlineEndpoints/{ep}/deployments/{name}. */
const ONLINE_DEPLOYMENT =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/workspaces\/[^/]+\/onlineEndpoints\/[^/]+\/deployments\/[^/]+$/i;
const API_VERSION = '2024-04-01';
const deploymentSchema = z.object({ sku: z.object({ capacity: z.number().int().min(1).max(10_000) }) });

export interface AzureMlInstancesOptions {
  /** The Azure Resource Manager endpoint (https://management.azure.com; the AML simulator in local mode). */
  armEndpoint: string;
  send: SendUpstream;
  /** An Entra token for https://management.azure.com/.default (Reader on the deployment is enough). */
  token: () => Promise<string>;
  timeoutMs: number;
}

/**
 * Reads `sku.capacity` of the Azure ML online deployment a managed deployment's `billing.resourceId` names (GET on
 * the management plane), so the hour just closed is charged for the instances that ran rather than the configured
 * count; a deployment billed to another kind of resource is not asked.
 */
export function azureMlInstanceCount(options: AzureMlInstancesOptions): InstanceCount {
  const base = options.armEndpoint.replace(/\/+$/, '');
  return async (deployment) => {
    const resourceId = deployment.billing?.resourceId;
    if (!resourceId || !ONLINE_DEPLOYMENT.test(resourceId)) return undefined;
    const answer = await options.send(
      {
        method: 'GET',
        url: `${base}${resourceId}?api-version=${API_VERSION}`,
        headers: { accept: 'application/json', authorization: `Bearer ${await options.token()}` },
        body: '',
        streams: false,
      },
      {
        signal: AbortSignal.timeout(options.timeoutMs),
        deadlineMs: options.timeoutMs,
        headersTimeoutMs: options.timeoutMs,
        idleTimeoutMs: options.timeoutMs,
      },
    );
    const text = await readBody(answer.body, { maxBytes: 1024 * 1024, headers: answer.headers });
    return deploymentSchema.parse(JSON.parse(text)).sku.capacity;
  };
}
