import { z } from 'zod';

/** The name of a blocklist document (and of its copy in Azure Content Safety, whose names are a superset). */
export const blocklistNamePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const blocklistName = z
  .string()
  .regex(blocklistNamePattern, "a blocklist name is 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");

const threshold = (category: string) =>
  z
    .number(`categories.${category} must be a number from 0 to 7`)
    .int(`categories.${category} must be a whole number from 0 to 7`)
    .min(0, `categories.${category} must be from 0 to 7`)
    .max(7, `categories.${category} must be from 0 to 7`);

/** Hold-back window of streamed answers, in characters, when the profile names none. */
export const DEFAULT_WINDOW_CHARS = 200;

/**
 * A team's safety profile (PRODUCT.md team `safety`). `categories` gives, per harm category screened by Azure
 * AI Content Safety, the highest severity the team accepts (0-7; above it is blocked; a category left out is
 * not screened); `promptShield` screens prompts and documents for attacks; `pii` masks or blocks personal data
 * and secrets; `blocklists` names blocklist documents; `mode: audit` records verdicts and blocks nothing;
 * `onOutage` says what happens when Content Safety cannot answer; `parallel` starts the model while the prompt
 * is screened; `windowChars` is how much of a streamed answer is held back for screening; `billAborted` says
 * whether a call parallel mode stopped (its prompt blocked) is billed to the team for what the model used until then.
 */
export const safetyProfileSchema = z.strictObject({
  categories: z
    .strictObject({
      hate: threshold('hate').optional(),
      sexual: threshold('sexual').optional(),
      violence: threshold('violence').optional(),
      selfHarm: threshold('selfHarm').optional(),
    })
    .default({}),
  promptShield: z.boolean('promptShield must be true or false').default(false),
  pii: z.enum(['off', 'mask', 'block'], "pii must be 'off', 'mask' or 'block'").default('off'),
  blocklists: z
    .array(blocklistName)
    .max(32, 'at most 32 blocklists')
    .refine((names) => new Set(names).size === names.length, 'a blocklist is named twice')
    .default([]),
  mode: z.enum(['enforce', 'audit'], "mode must be 'enforce' or 'audit'").default('enforce'),
  onOutage: z.enum(['closed', 'open'], "onOutage must be 'closed' or 'open'").default('closed'),
  parallel: z.boolean('parallel must be true or false').default(false),
  billAborted: z.boolean('billAborted must be true or false').default(true),
  windowChars: z
    .number('windowChars must be a number of characters')
    .int('windowChars must be a whole number')
    .min(64, 'windowChars must be at least 64 (the longest spaced personal data, an IBAN, must fit)')
    .max(10_000, 'windowChars must be at most 10000')
    .default(DEFAULT_WINDOW_CHARS),
});
export type SafetyProfile = z.output<typeof safetyProfileSchema>;

/** A blocklist document (PUT /manage/blocklists/{name}): its terms, each 1-128 characters as in Azure. */
export const blocklistDocumentSchema = z.strictObject({
  name: blocklistName,
  description: z.string().max(1024, 'description is at most 1024 characters').optional(),
  items: z
    .array(z.string().trim().min(1, 'an item is 1-128 characters').max(128, 'an item is 1-128 characters'))
    .max(10_000, 'a blocklist holds at most 10000 items')
    .refine((items) => new Set(items).size === items.length, 'an item is listed twice'),
});
export type BlocklistDocument = z.output<typeof blocklistDocumentSchema>;
