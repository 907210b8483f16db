import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('createResponse', { route: 'v1/responses', methods: ['POST'], authLevel: 'anonymous', handler: gateway.createResponse });
app.http('v1CreateResponse', {
  route: 'openai/v1/responses',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.v1CreateResponse,
});
app.http('retrieveResponse', { route: 'v1/responses/{id}', methods: ['GET'], authLevel: 'anonymous', handler: gateway.retrieveResponse });
app.http('deleteResponse', { route: 'v1/responses/{id}', methods: ['DELETE'], authLevel: 'anonymous', handler: gateway.deleteResponse });
app.http('v1RetrieveResponse', {
  route: 'openai/v1/responses/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: gateway.v1RetrieveResponse,
});
app.http('v1DeleteResponse', {
  route: 'openai/v1/responses/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: gateway.v1DeleteResponse,
});
