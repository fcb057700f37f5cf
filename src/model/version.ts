/** This release (package.json's version; a unit test keeps the two equal). Names the installed copy. */
export const VERSION = '0.1.0';
