/** Routing of a line to the access or security stream (absent: the app stream). */
export const STREAM: unique symbol = Symbol('shipshape.logger.stream');
/** The sanitised, redacted record a line was serialised from. */
export const RECORD: unique symbol = Symbol('shipshape.logger.record');
/** Set on lines whose JSON is already built (access lines): the format leaves them alone. */
export const PRESERIALIZED: unique symbol = Symbol('shipshape.logger.preserialized');
