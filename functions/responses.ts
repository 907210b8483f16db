import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('createResponse', { route: 'v1/responses', methods: ['POST'], authLevel: 'anonymous', handler: gateway.createResponse });
app.http('v1CreateResponse', {
  route: 'openai/v1/responses',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.v1CreateResponse,
});
