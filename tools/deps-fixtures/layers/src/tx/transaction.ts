export const begin = 'BEGIN';
