export type { Part, PartInput } from './context.js';
