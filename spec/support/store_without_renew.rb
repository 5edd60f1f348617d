# frozen_string_literal: true

# A token store written in Ruby with the five required methods and no optional #renew, in this
# process: what a callback endpoint's claims fall back from (a 60 s claim instead of a renewed
# lease).
class StoreWithoutRenew
  def initialize
    @locks = {}
  end

  def read(_key) = nil
  def write(*) = true
  def delete(*) = false
  def lock(key, owner, _ttl) = (@locks[key] ||= owner) == owner
  def unlock(key, owner) = @locks[key] == owner && @locks.delete(key)
end
