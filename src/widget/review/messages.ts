/**
 * What the review viewer's kernel side sends it (schema/review-messages.schema.json, which the
 * kernel checks the other way): replies to its requests, and tracking's tables grown at each
 * checkpoint.
 */

import reviewSchema from '../../../schema/review-messages.schema.json';
import type { IReply } from '../../comm-requests';
import { messageCheck } from '../../contracts';

/** Tracking's tables grown: the binary columns are put back from the buffers `buffer_paths` names. */
export interface GrowMessage {
  type: 'grow';
  since: number;
  tracks: object;
  lineage: object;
  divisions: object;
  buffer_paths: string[][];
}

export type FromKernel = IReply | GrowMessage;

/** The message, if it keeps the contract; else an error saying how it breaks it. */
export const checkFromKernel = messageCheck<FromKernel>(reviewSchema, 'toBrowser');
