import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('usage', { route: 'usage', methods: ['GET'], authLevel: 'anonymous', handler: gateway.usage });
