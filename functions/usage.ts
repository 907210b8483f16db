import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('usage', { route: 'usage', methods: ['GET'], authLevel: 'anonymous', handler: gateway.usage });
app.http('usageBudgets', { route: 'usage/budgets', methods: ['GET'], authLevel: 'anonymous', handler: gateway.usageBudgets });
app.http('usageAdvice', { route: 'usage/advice', methods: ['GET'], authLevel: 'anonymous', handler: gateway.usageAdvice });
app.http('usageReconcile', { route: 'usage/reconcile', methods: ['POST'], authLevel: 'anonymous', handler: gateway.usageReconcile });
app.http('usageReconcileAzure', {
  route: 'usage/reconcile/azure',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.usageReconcileAzure,
});
app.http('usageStatement', { route: 'usage/statements/{team}', methods: ['GET'], authLevel: 'anonymous', handler: gateway.usageStatement });
