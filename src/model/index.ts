/** The model layer: the canonical contact, its field space, identity keys and vCard conversion. */
export type * from './card.js';
export * from './fields.js';
export * from './normalize.js';
export * from './card-fields.js';
export * from './vcard.js';
