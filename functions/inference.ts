import { app } from '@azure/functions';
import { gateway } from '../shared/composition/gateway.js';

app.http('listModels', { route: 'v1/models', methods: ['GET'], authLevel: 'anonymous', handler: gateway.listModels });
app.http('retrieveModel', { route: 'v1/models/{model}', methods: ['GET'], authLevel: 'anonymous', handler: gateway.retrieveModel });
app.http('chatCompletions', { route: 'v1/chat/completions', methods: ['POST'], authLevel: 'anonymous', handler: gateway.chatCompletions });
app.http('embeddings', { route: 'v1/embeddings', methods: ['POST'], authLevel: 'anonymous', handler: gateway.embeddings });
app.http('azureChatCompletions', {
  route: 'openai/deployments/{alias}/chat/completions',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.azureChatCompletions,
});
app.http('azureEmbeddings', {
  route: 'openai/deployments/{alias}/embeddings',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: gateway.azureEmbeddings,
});
