import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

// Any path no other function claims gets an OpenAI-shaped 404 rather than the host's empty one.
app.http('notFound', {
  route: '{*path}',
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'anonymous',
  handler: gateway.notFound,
});
